"""audiostream's sources: ThreadSource (sources.thread), SineSource
(sources.wave) and PatchSource (sources.puredata)."""
