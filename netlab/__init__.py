"""netlab: a network-lab toolkit for seeing TCP at work.

A reference threaded chat (`netlab serve` / `netlab join`), its sockets (`netlab sockets`),
Follow-TCP-Stream reassembly from live capture or pcap (`netlab follow`) and an end-to-end
lab with reports (`netlab lab`, `netlab report`).
"""

from __future__ import annotations

__version__ = "0.1.0"
