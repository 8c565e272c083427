"""Retention periods and irrecoverable erasure (保存期間の管理と消去)."""
