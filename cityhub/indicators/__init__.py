"""City vital-sign indicators (城市体征指标): definitions as data, one engine over the reading stream."""
