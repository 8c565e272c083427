"""開示・訂正・利用停止請求 and the 問合せ受付票 (seed section IV)."""
