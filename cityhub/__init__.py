"""cityhub — city operations and governance hub (城市运行和治理智能中枢)."""

__version__ = "0.1.0"
