"""Export control: who may write personal data to a file, how it is encrypted and logged."""
