"""Vigie's pure domain core: types, tracking, zones and rules, with no I/O and no clock."""
