"""kivy audiostream's API on rill's audio engine (include/rill/audio.h).

    from rill.audiostream import get_output, AudioSample
    from rill.audiostream.sources.thread import ThreadSource
    from rill.audiostream.sources.wave import SineSource
    from rill.audiostream.sources.puredata import PatchSource

    stream = get_output(channels=1, buffersize=1024, rate=22050)
    sample = AudioSample()
    stream.add_sample(sample)
    sample.play()
    sample.write(b"\\x00\\x00\\xff\\x7f")

The layout is audiostream's: this package exports what audiostream's does
(get_output, get_input, get_input_sources, AudioOutput, AudioInput,
AudioSample, AudioException), audiostream.core is rill.audiostream.core, and
the sources are in rill.audiostream.sources.thread / .wave / .puredata;
ThreadSource, SineSource and PatchSource are importable from here too.
Every remaining difference from audiostream, and why: python/README.md.
"""

from .core import (get_output, get_input, get_input_sources, AudioOutput,  # noqa: F401
                   AudioInput, AudioSample, AudioException, backend_names)
from .sources.thread import ThreadSource  # noqa: F401
from .sources.wave import SineSource  # noqa: F401
from .sources.puredata import PatchSource  # noqa: F401

# The audiostream API this package implements (kivy audiostream 0.2, whose
# __version__ is this tuple); rill's own version is rill.__version__.
__version__ = (0, 2)

__all__ = ("get_output", "get_input", "get_input_sources", "AudioOutput",
           "AudioInput", "AudioSample", "AudioException")
