"""委託料の支払い: the monthly billing run, returns, copay exemptions, claim reconciliation, bank file."""
