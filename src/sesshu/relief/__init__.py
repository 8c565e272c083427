"""健康被害救済 (予防接種法 第15–16条): relief cases from claim to pension payments."""
