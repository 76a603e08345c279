"""Pure domain logic: records, trigger rules, mappings, preview. No IO, no Qt, no HTTP."""
