"""Triage Sync: ServiceNow incidents to Autotask tickets, with preview, approval and a return trip."""

__version__ = "0.1.0"
APP_NAME = "triage-sync"
APP_DISPLAY_NAME = "Triage Sync"
