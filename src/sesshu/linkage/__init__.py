"""情報連携 (中間サーバー role): 副本, inquiries to and provision for other bodies through the hub."""
