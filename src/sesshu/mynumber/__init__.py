"""The My Number layer: masked display, audited reveal, 個人番号確認, key rotation."""
