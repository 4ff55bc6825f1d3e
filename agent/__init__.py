"""msagent: migrate PyTorch code to MindSpore and prove it by execution."""
__version__ = "0.1.0"
