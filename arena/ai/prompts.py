"""The embedded bank of roast prompts and a deterministic picker.

Prompts are edgy but aimed at choices, habits and hypotheticals, never at who
someone is (no appearance-as-identity, ethnicity, religion, gender, disability
...). `pick_prompt` is a pure function of (seed, round, used): the same match
replays to the same prompts, and a prompt already played in the match is not
offered again until the whole bank has been used.
"""

from __future__ import annotations

from arena.engine import rng

PROMPTS: tuple[str, ...] = (
    # taste and habits
    "Roast your opponent's taste in music.",
    "Roast your opponent's fashion sense.",
    "Roast your opponent's browser history.",
    "Roast your opponent's cooking skills.",
    "Roast your opponent's phone wallpaper.",
    "Roast your opponent's dating profile.",
    "Roast your opponent's gaming skills.",
    "Roast your opponent's morning routine.",
    "Roast your opponent's playlist for the gym.",
    "Roast your opponent's crypto portfolio.",
    "Roast your opponent's handwriting.",
    "Roast your opponent's karaoke song choice.",
    "Roast your opponent's sense of direction.",
    "Roast your opponent's excuses for being late.",
    "Roast your opponent's New Year's resolutions.",
    "Roast your opponent's group chat messages.",
    "Roast your opponent's screen time report.",
    "Roast your opponent's idea of a perfect date.",
    "Roast your opponent's dance moves.",
    "Roast your opponent's social media captions.",
    "Roast your opponent's haircut decisions.",
    "Roast your opponent's houseplant care.",
    # as an object
    "Roast your opponent as if they were a used car for sale.",
    "Roast your opponent as if they were a kitchen appliance.",
    "Roast your opponent as if they were a forgotten password.",
    "Roast your opponent as if they were an expired coupon.",
    "Roast your opponent as if they were a phone charger that only works at an angle.",
    "Roast your opponent as if they were a flat-pack wardrobe with missing screws.",
    "Roast your opponent as if they were a houseplant.",
    "Roast your opponent as if they were a software update.",
    "Roast your opponent as if they were a pizza topping.",
    "Roast your opponent as if they were a reality TV show.",
    # careers and pitches
    "Roast your opponent as if they were a failed startup pitch.",
    "Roast your opponent's career as a professional influencer.",
    "Roast your opponent as a weather forecaster who is always wrong.",
    "Roast your opponent as a customer support chatbot.",
    "Roast your opponent as a motivational speaker nobody asked for.",
    "Roast your opponent as a chef on a cooking competition.",
    "Roast your opponent as a personal trainer.",
    "Roast your opponent as a tour guide in their own hometown.",
    "Roast your opponent as a detective who cannot solve anything.",
    "Roast your opponent as a substitute teacher.",
    "Roast your opponent as a real estate agent selling their own apartment.",
    "Roast your opponent as a wedding DJ.",
    "Roast your opponent as the intern on their first day.",
    "Roast your opponent as a crypto founder announcing a new token.",
    # situations
    "Roast your opponent at a job interview.",
    "Roast your opponent on a first date.",
    "Roast your opponent at the gym.",
    "Roast your opponent in a group project.",
    "Roast your opponent at a family dinner.",
    "Roast your opponent stuck in an elevator.",
    "Roast your opponent at airport security.",
    "Roast your opponent trying to assemble furniture.",
    "Roast your opponent in a zombie apocalypse.",
    "Roast your opponent as the last person picked for a team.",
    "Roast your opponent on a camping trip.",
    "Roast your opponent in a video call with their camera on.",
    # personas and hypotheticals
    "Roast your opponent as if they were a movie villain.",
    "Roast your opponent as a superhero with a useless power.",
    "Roast your opponent as a medieval knight.",
    "Roast your opponent as a contestant on a dating show.",
    "Roast your opponent as an NPC in a video game.",
    "Roast your opponent as a self-help book.",
    "Roast your opponent as a fortune cookie.",
    "Roast your opponent's autobiography in one sentence.",
    "Roast your opponent's life as a movie trailer.",
    "Roast your opponent's superpower if it were announced by their mom.",
    "Roast your opponent as a time traveler from the year 2005.",
    "Roast your opponent's first attempt at becoming famous.",
    "Roast your opponent as a ghost haunting a house.",
    "Roast your opponent as a tech support call.",
)


def pick_prompt(seed: int, round: int, used: tuple[str, ...]) -> str:
    """A prompt for `round` of the match whose prompt seed is `seed`.

    Pure and deterministic. Never returns a prompt in `used` while unused
    prompts remain; once the bank is exhausted it picks among the prompts used
    the fewest times. The draw is `rng.below(seed, n, "prompt", round, len(used))`
    over the candidates in bank order. Any int seed works (it is reduced to
    the generator's 128-bit range).
    """
    counts: dict[str, int] = {}
    for p in used:
        counts[p] = counts.get(p, 0) + 1
    fewest = min(counts.get(p, 0) for p in PROMPTS)
    candidates = [p for p in PROMPTS if counts.get(p, 0) == fewest]
    i = rng.below(seed % (1 << 128), len(candidates), "prompt", round, len(used))
    return candidates[i]
