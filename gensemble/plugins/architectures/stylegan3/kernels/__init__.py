"""Alias-free kernels: reference (exact definitions), fast (polyphase PyTorch), Triton
(fused), exposed as ``torch.library`` custom operators (:mod:`.ops`, :mod:`.filtered_lrelu`)."""
