"""`python -m arena bot --mode meme`: bots that watch and trade meme rounds.

With an operator API key (`--key`, from `python -m arena keys create ops
operator`) one more bot, the studio, uploads generated pictures (owned by
the watching bots, so the money comes back to them) one every few seconds.
Every other bot logs in, takes the faucet, deposits into its viewing
balance, watches items of the current round for a few seconds with beats,
lists the items it owns and buys items listed by others, and logs every
`round:ended` with its rewards, so a terminal running `make run` and this
shows rounds paying out. Choices come from the seed.
"""

from __future__ import annotations

import io
import random
import secrets
from collections.abc import Callable

import trio

from arena.client import ArenaConnectionClosed, ArenaRequestError, ArenaTimeout, open_client

TITLES = ("a cat on a keyboard", "a dog reading the news", "two frogs at a bus stop", "a very tired owl",
          "the intern after the deploy", "a goose guarding the fridge", "monday as a potato")
# Refusals a bot expects in a live world (an item left the round, a listing
# was bought first): it carries on.
EXPECTED = ("wrong_state", "not_found", "not_allowed", "insufficient_funds", "rate_limited", "payment_failed",
            "bad_request")


def picture(seed: int, size: int = 96) -> bytes:
    """A generated PNG that is not a flat colour (the review scores those low)."""
    from PIL import Image

    im = Image.new("RGB", (size, size))
    im.putdata([((x * seed) % 256, (y * 7 + seed) % 256, (x ^ y) % 256) for y in range(size) for x in range(size)])
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


class MemeBot:
    def __init__(self, index: int, url: str, rng: random.Random, log: Callable[[str], None]):
        from solders.keypair import Keypair

        self.name = f"meme-{index}"
        self.url, self.rng, self.log = url, rng, log
        self.keypair = Keypair.from_seed(rng.randbytes(32))
        self.wallet = str(self.keypair.pubkey())
        self.balance = 0
        self.watched = 0
        self.earned = 0

    async def run(self, rounds: int) -> bool:
        async with open_client(self.url, keypair=self.keypair) as c:
            await c.hello()
            await c.login(self.keypair)
            await c.faucet()
            seen = 0
            while rounds == 0 or seen < rounds:
                try:
                    await self._step(c)
                except ArenaRequestError as err:
                    if err.code not in EXPECTED:
                        raise
                    await trio.sleep(1)
                for type_, body in c.drain_events():
                    if type_ == "round:ended":
                        seen += 1
                        mine = sum(r["amount"] for r in body["rewards"] if r["wallet"] == self.wallet)
                        self.earned += mine
                        if self.name == "meme-1":  # one bot tells the room
                            self.log(f"round {body['round']} ended: pool {body['pool']}, rewards "
                                     + (", ".join(f"{r['wallet'][:6]}… {r['amount']}" for r in body["rewards"])
                                        or "none (nobody watched)"))
                    elif type_ == "ownership:changed" and body["owner"] == self.wallet:
                        self.log(f"{self.name} bought {body['content']}")
        return True

    async def _step(self, c) -> None:
        try:
            r = await c.request("meme.round", {})
        except ArenaRequestError as err:
            if err.code == "wrong_state":  # the first round opens with the first block height
                await trio.sleep(1)
                return
            raise
        if not r["content"]:
            await trio.sleep(1)
            return
        cid = self.rng.choice(sorted(r["content"]))
        if self.rng.random() < 0.2:
            await self._trade(c, cid)
            return
        if self.balance < 30:
            built = await c.request("view.deposit.build", {"amount": 100})
            tx, signature = c.sign_payment(built["tx"])  # a BSV wallet's transaction comes back signed
            done = await c.request("view.deposit.confirm", {"tx": tx, "signature": signature})
            self.balance = done["balance"]
        started = await c.request("view.start", {"content": cid})
        self.balance = started["balance"]
        for _ in range(self.rng.randint(2, 6)):
            await trio.sleep(2)
            await c.request("view.beat", {"content": cid})
        stopped = await c.request("view.stop", {})
        self.balance -= stopped["charged"]
        self.watched += stopped["seconds"]

    async def _trade(self, c, cid: str) -> None:
        info = await c.request("content.get", {"content": cid})
        if info["owner"] == self.wallet and info["price"] is None:
            await c.request("market.list", {"content": cid, "price": self.rng.randint(20, 200)})
        elif info["owner"] != self.wallet and info["price"] is not None and self.rng.random() < 0.5:
            built = await c.request("market.buy.build", {"content": cid})
            tx, signature = c.sign_payment(built["tx"])
            await c.request("market.buy.confirm", {"content": cid, "tx": tx, "signature": signature})


async def studio(url: str, key: str, owners: list[str], rng: random.Random, log, uploads: int) -> None:
    """Uploads `uploads` generated memes (0 = forever), one every 3..8 s."""
    async with open_client(url) as c:
        await c.hello()
        await c.request("auth.key", {"key": key})
        n = 0
        while uploads == 0 or n < uploads:
            n += 1
            title = f"{rng.choice(TITLES)} #{n}"
            sent = await c.request("content.upload", {"title": title, "media": picture(n + 2),
                                                      "media_type": "image/png", "owner": rng.choice(owners)})
            log(f"studio uploaded {sent['content']}: {title!r}")
            await trio.sleep(rng.uniform(3, 8))


async def run_meme_bots(url: str, count: int, rounds: int, seed: int | None, key: str | None,
                        log: Callable[[str], None]) -> int:
    seed = secrets.randbelow(2**31) if seed is None else seed
    rng = random.Random(f"meme-bots:{seed}")
    bots = [MemeBot(i + 1, url, random.Random(rng.random()), log) for i in range(count)]
    log(f"arena bot: {count} meme bot(s) on {url}, seed {seed}"
        + ("" if key else "; no --key, so nothing is uploaded (watching what operators upload)"))
    results: list[bool] = []

    async def one(bot: MemeBot) -> None:
        try:
            results.append(await bot.run(rounds))
        except (OSError, ArenaConnectionClosed, ArenaTimeout, ArenaRequestError) as exc:
            log(f"{bot.name} failed: {type(exc).__name__}: {exc}")
            results.append(False)

    try:
        async with trio.open_nursery() as nursery:
            if key:
                nursery.start_soon(studio, url, key, [b.wallet for b in bots], random.Random(rng.random()), log,
                                   0 if rounds == 0 else 3 * rounds)
            for bot in bots:
                nursery.start_soon(one, bot)
                await trio.sleep(0.05)
            while len(results) < len(bots):
                await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
    finally:
        log(f"arena bot: watched {sum(b.watched for b in bots)} s, earned {sum(b.earned for b in bots)} in pool "
            f"rewards; {results.count(False)} bot(s) failed")
    return 0 if results.count(True) == count else 1
