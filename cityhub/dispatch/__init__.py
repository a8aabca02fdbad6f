"""Dispatch (智能分拨): classification, routing, duplicates and hot spots."""
