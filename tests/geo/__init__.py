"""Tests for cityhub.geo."""
