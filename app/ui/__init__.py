"""The PySide6 desktop UI. Everything here talks to the engine through ``EngineAPI`` only."""
