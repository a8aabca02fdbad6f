"""The city code registry (一码通城): entities, their codes, typed attributes, relations and sources."""
