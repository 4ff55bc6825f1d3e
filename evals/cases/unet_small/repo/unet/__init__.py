from .model import UNet
