from .resnet import BasicBlock, Bottleneck, ResNetTiny, resnet8

__all__ = ["BasicBlock", "Bottleneck", "ResNetTiny", "resnet8"]
