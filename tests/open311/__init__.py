"""Tests of cityhub.open311."""
