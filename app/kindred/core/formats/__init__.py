"""Adapter and model file formats: GGUF metadata, llama.cpp LoRA GGUF, PEFT folders, fit checks."""
