"""Data feeds (oracles): outside values a mode asks for, fetched once, journaled.

A mode issues `FetchFeed` (arena.engine.outputs); the feed side task
(`arena.feeds.service.FeedService`, worker "feed") asks the feed's sources,
applies the feed's consensus rule (`arena.feeds.consensus`), and answers with
one journaled `FeedResult` (arena.engine.inputs) holding the decision and
every source's answer. A replay reads the result back and never fetches.

Modules:

* `consensus`: the rules (agree k-of-n, median, first), sans-IO;
* `breaker`: circuit breakers per source and per feed, with an injected clock;
* `sources`: URL templates, JSON paths, responses to answers (sans-IO), and
  the one HTTP fetch;
* `simulated`: the SIMULATED default feeds (deterministic, nothing installed);
* `service`: the side task that ties them together.

See docs/FEEDS.md.
"""
