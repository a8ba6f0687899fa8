"""Language models: tokenizer, model building, masked-LM pretraining."""
