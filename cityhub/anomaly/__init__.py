"""Anomaly detection for sensor streams with no fixed threshold (预测预警 without hand-set limits).

``AnomalyDetector(config).fit(normal_frame)`` learns normal behaviour; ``detect(window)`` scores
later rows (``score > 1`` is an alarm). ``io.read_frame`` reads the CSV layouts in use (NAB,
SKAB, BATADAL); ``cli.app`` is mounted as ``cityhub anomaly``.
"""

from cityhub.anomaly.detectors import (
    DEFAULT_CONFIG,
    AnomalyDetector,
    Detection,
    DetectorConfig,
    Seasonality,
    fit_on_input,
)
from cityhub.anomaly.io import DataError, Frame, read_frame

__all__ = [
    "DEFAULT_CONFIG",
    "AnomalyDetector",
    "DataError",
    "Detection",
    "DetectorConfig",
    "Frame",
    "Seasonality",
    "fit_on_input",
    "read_frame",
]
