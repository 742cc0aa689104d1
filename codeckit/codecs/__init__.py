"""The codec layer: codecs and their implementations, what works on this machine, and choosing one."""
from .capability import Capability, probe_capabilities
from .select import EncoderChoice, EncoderRequest, Selection, choose_encoder
from .table import (BY_NAME, CODECS, IMPLEMENTATIONS, SPEEDS, Codec, EncoderArgs, Implementation, Knob,
                    capped_args, encoder_args, implementations_of, resolve_codec)

__all__ = ["BY_NAME", "CODECS", "IMPLEMENTATIONS", "SPEEDS", "Capability", "Codec", "EncoderArgs", "EncoderChoice",
           "EncoderRequest", "Implementation", "Knob", "Selection", "capped_args", "choose_encoder", "encoder_args",
           "implementations_of", "probe_capabilities", "resolve_codec"]
