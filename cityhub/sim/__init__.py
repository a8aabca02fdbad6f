"""The demo city of Qingdao and the simulators that keep it alive (``cityhub demo``)."""
