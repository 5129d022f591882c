#!/usr/bin/env python3
"""Regenerate every file in llmkit's sample_data/ folder.

    python sample_data/make_sample_data.py

Standard library only, deterministic: a fixed seed drives every random choice, gzip members are
written with mtime=0, WARC dates are derived from the seed, and iteration order is fixed, so two
runs produce byte-identical files.

Everything here was written for llmkit: the sites, towns, people and countries are made up, and the
prose is composed from hand-written sentence templates with slot fillers. See README.md (also
written by this script) for what each file is for and the list of planted test cases.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import gzip
import hashlib
import html
import json
import random
import re
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20240611
OUT = Path(__file__).resolve().parent
CRAWL_DIR = OUT / "crawl"

# ----------------------------------------------------------------------------------------------
# Template engine
#
#   [a|b|c]        pick one alternative (an alternative may be empty)
#   {slot}         the article's binding for slot, else a random entry of POOLS[slot]
#   {n:LO-HI}      a random integer written in digits
#   {w:LO-HI}      a random integer written in words (0..99)
# ----------------------------------------------------------------------------------------------

_ALT = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{([a-z_0-9]+)(?::(\d+)-(\d+))?\}")

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + ("" if ones == 0 else "-" + _ONES[ones])


_AN_EXCEPTIONS = ("one", "once", "use", "used", "useful", "user", "usual", "unit", "uni", "euro", "eu")
_AN_SILENT_H = ("hour", "honest", "honour", "heir")


def fix_articles(text: str) -> str:
    def repl(m: re.Match) -> str:
        art, word = m.group(1), m.group(2)
        lw = word.lower()
        vowel = lw[0] in "aeiou" and not lw.startswith(_AN_EXCEPTIONS)
        vowel = vowel or lw.startswith(_AN_SILENT_H)
        if vowel:
            new = "an" if art in ("a", "an") else "An"
        else:
            new = "a" if art in ("a", "an") else "A"
        return f"{new} {word}"

    return re.sub(r"\b(a|an|A|An) ([A-Za-z][\w'-]*)", repl, text)


def fill(template: str, rng: random.Random, bind: dict[str, str]) -> str:
    text = template
    while True:
        m = _ALT.search(text)
        if not m:
            break
        choice = rng.choice(m.group(1).split("|"))
        text = text[: m.start()] + choice + text[m.end() :]

    def slot(m: re.Match) -> str:
        name, lo, hi = m.group(1), m.group(2), m.group(3)
        if lo is not None:
            value = rng.randint(int(lo), int(hi))
            return number_words(value) if name == "w" else str(value)
        if name in bind:
            return bind[name]
        if name in POOLS:
            return rng.choice(POOLS[name])
        raise KeyError(f"unknown slot {name!r} in template {template!r}")

    text = _SLOT.sub(slot, text)
    text = fix_articles(text)
    text = re.sub(r" {2,}", " ", text).strip()
    # Capitalise the first letter (skipping a leading quote mark).
    for i, ch in enumerate(text):
        if ch.isalpha():
            text = text[:i] + ch.upper() + text[i + 1 :]
            break
        if ch not in "\"'“‘":
            break
    return text


def title_case(text: str) -> str:
    """Capitalise lower-case words except short function words; leave capitalised words alone."""
    small = {"a", "an", "the", "and", "or", "of", "in", "on", "at", "for", "to", "with", "by", "from"}
    words = text.split(" ")
    out = []
    for i, w in enumerate(words):
        if w[:1].islower() and (i == 0 or w not in small or words[i - 1].endswith(":")):
            out.append(w[:1].upper() + w[1:])
        else:
            out.append(w)
    return " ".join(out)


# ----------------------------------------------------------------------------------------------
# Vocabularies (all names, towns, teams and titles are invented)
# ----------------------------------------------------------------------------------------------

FIRST_NAMES = [
    "Ada",
    "Adele",
    "Ahmed",
    "Alma",
    "Amara",
    "Anton",
    "Arlo",
    "Beatrix",
    "Bernard",
    "Bilal",
    "Bridget",
    "Callum",
    "Camille",
    "Carmen",
    "Cedric",
    "Clara",
    "Darius",
    "Delia",
    "Desmond",
    "Edith",
    "Elena",
    "Elias",
    "Esme",
    "Farah",
    "Felix",
    "Fiona",
    "Gareth",
    "Greta",
    "Hamid",
    "Hazel",
    "Hugo",
    "Ines",
    "Isaac",
    "Ivy",
    "Jonas",
    "Joyce",
    "Kofi",
    "Lena",
    "Leon",
    "Lucia",
    "Malik",
    "Margot",
    "Marcus",
    "Mei",
    "Nadia",
    "Nell",
    "Niall",
    "Olga",
    "Oscar",
    "Petra",
    "Priya",
    "Quentin",
    "Rosa",
    "Rupert",
    "Sana",
    "Silas",
    "Tamsin",
    "Theo",
    "Ursula",
    "Viktor",
    "Wendell",
    "Yara",
    "Zainab",
    "Tobias",
    "Miriam",
    "Ravi",
    "Harriet",
    "Dmitri",
    "Noor",
    "Otis",
]
LAST_NAMES = [
    "Abbott",
    "Achebe",
    "Ashworth",
    "Bellamy",
    "Brannigan",
    "Castellan",
    "Cheng",
    "Collier",
    "Dalgleish",
    "Desai",
    "Ellery",
    "Fairbairn",
    "Fenwick",
    "Garroway",
    "Halloran",
    "Haverford",
    "Ingram",
    "Jarvis",
    "Kaminski",
    "Kettering",
    "Lindqvist",
    "Lowther",
    "Mackintosh",
    "Marchetti",
    "Nakamura",
    "Nwosu",
    "Okafor",
    "Ollerton",
    "Pemberton",
    "Quayle",
    "Redfern",
    "Saltmarsh",
    "Sandoval",
    "Thackeray",
    "Tolliver",
    "Underhill",
    "Varga",
    "Wainwright",
    "Whitlock",
    "Yardley",
    "Zielinski",
    "Moreau",
    "Oyelaran",
    "Petrakis",
    "Rosenthal",
    "Strand",
    "Tremayne",
    "Vance",
]
TOWNS = [
    "Harwick",
    "Millbrook Vale",
    "Pellham Cross",
    "Brindlemoor",
    "Oakhollow",
    "Westmere Quay",
    "Caddington Falls",
    "Larkspur Ridge",
    "Fennick",
    "Stowbridge",
    "Marrowby",
    "Tillingham",
    "Easterbrook",
    "Norcott",
    "Quillsby",
    "Hollin Bridge",
    "Ashcombe",
    "Duxley Green",
    "Kestrel Bay",
    "Wrenford",
    "Cobble Hill",
    "Saltersby",
    "Thornwick",
    "Amberley Down",
    "Gullhaven",
    "Elmstead Marsh",
    "Penhallow",
    "Bracken End",
    "Sorrel Heath",
    "Lowmoor",
]
RIVERS = [
    "the Wend",
    "the Marrow",
    "the Silvan",
    "the Lisle",
    "the Cobb",
    "the Arden Water",
    "the Tamsey",
    "the Brill",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

POOLS: dict[str, list[str]] = {
    "weekday": WEEKDAYS,
    "month": MONTHS,
    "season": ["spring", "summer", "autumn", "winter"],
    "any_town": TOWNS,
    "herb": [
        "thyme",
        "parsley",
        "rosemary",
        "bay leaves",
        "dill",
        "coriander",
        "sage",
        "chives",
        "mint",
        "tarragon",
    ],
    "kitchen_tool": [
        "heavy pan",
        "wide saucepan",
        "cast iron pot",
        "deep frying pan",
        "large casserole dish",
    ],
    "side": [
        "crusty bread",
        "a green salad",
        "steamed rice",
        "buttered greens",
        "warm flatbreads",
        "a spoonful of yoghurt",
        "boiled new potatoes",
    ],
    "drink": ["a pot of tea", "a glass of cold water", "a mug of coffee", "fresh apple juice"],
    "pest": ["slugs", "aphids", "snails", "caterpillars", "pigeons", "vine weevils"],
    "tool": ["spade", "hand trowel", "garden fork", "hoe", "pair of secateurs", "watering can"],
    "walker_word": ["walkers", "visitors", "families", "cyclists", "day trippers"],
}


@dataclass
class Article:
    topic: str
    title: str
    byline: str
    date: dt.date
    paragraphs: list[str]
    bind: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)

    def word_count(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


# ----------------------------------------------------------------------------------------------
# Generic sentences that fit any article (drawn sparingly)
# ----------------------------------------------------------------------------------------------

GENERIC = [
    "[Of course|Naturally], no two people will see it [quite|exactly] the same way, and that is [perfectly fine|part of the fun].",
    "It is worth [pausing|taking a moment] to ask why this matters [so much|at all] to [so many|a good number of] people.",
    "Like [many|most] [good|simple] things, it [rewards|repays] patience more than [speed|cleverness].",
    "[None of this|Nothing here] [requires|needs] special training, only [a little|some] care and [attention|time].",
    "[Small|Modest] changes, [repeated|kept up] over [weeks|months], tend to make the [biggest|largest] difference.",
    "[Several|A few] readers wrote in [last|earlier this] [month|season] to ask [about exactly this|for more detail on this point].",
    "[That|This] may sound [obvious|simple], but it is easy to forget when [time is short|the week gets busy].",
    "[In practice|In everyday life], the [best|simplest] approach is usually the one you can [keep doing|stick with].",
    "[There is|We found] no single right answer, [only|just] a few [sensible|reliable] habits that [help|work].",
    "[Looking back|In hindsight], the [early|first] [mistakes|attempts] taught [more|just as much] than the [later|final] [successes|results].",
    "[It helps|It is useful] to keep [a notebook|simple notes] so that you can see what has changed over time.",
    "[Neighbours|Friends] [often|sometimes] have [useful|practical] advice, so it is worth asking around [first|before you begin].",
    "[Patience|Persistence] is [rarely|seldom] exciting, but it [almost always|usually] [pays off|wins in the end].",
    "The [details|finer points] matter, [but|yet] the [basic idea|main principle] is [easy to grasp|simple enough].",
    "[Anyone|Almost anyone] can [learn|pick up] the basics in an afternoon, and the rest comes with [practice|experience].",
    "[When in doubt|If you are unsure], start [small|slowly] and build up from there.",
    "A [friendly|helpful] [word|tip] from someone with experience can save [hours|a great deal] of [trouble|guesswork].",
    "[Most|Many] of the [problems|difficulties] people [run into|meet] have [simple|ordinary] causes.",
    "[It is|That is] a [good|useful] reminder that [careful|steady] work [usually|generally] beats [hurry|haste].",
    "[Some|A few] [readers|people] will [prefer|choose] a different [method|route], and [there is room for that|that is fine too].",
    "[The weather|The time of year] [plays|can play] a [bigger|larger] part than [many|most] people expect.",
    "[Above all|More than anything], the aim is to [enjoy the process|learn something along the way].",
    "[Cost|Money] is [often|usually] less of a [barrier|problem] than people [fear|assume] at the start.",
    "[Good|Clear] [planning|preparation] at the beginning [saves|spares] [effort|work] at the end.",
    "[We|Our team] will [return to|come back to] this [subject|topic] in a [later|future] [issue|article].",
    "[Experience|Practice] [shows|suggests] that [simple|plain] [methods|approaches] are [often|usually] the most [reliable|dependable].",
    "[It is easy to|Many of us] [underestimate|overlook] how much [a routine|a regular habit] can [help|achieve].",
    "[Questions|Letters] from readers are always welcome, and the [best|most useful] ones [appear|are answered] in [these pages|a later issue].",
    "[Every|Each] [season|year] brings [something new|a few surprises], which [keeps|makes] the [subject|whole business] interesting.",
    "[The|Our] [advice|suggestion] is to [read|look] through [everything|the whole plan] once before [starting|you begin].",
    "[Mistakes|Slip-ups] are [normal|part of learning], and [most|nearly all] of them are easy to [fix|put right].",
    "[Local|Nearby] [libraries|community centres] [often|sometimes] [run|host] free sessions on [topics like this|subjects like this one].",
    "[A|One] [reader|correspondent] from {any_town} [put it|summed it up] [neatly|well]: [the point is to enjoy it|do a little, often, and enjoy it].",
    "[Too much|Too little] [advice|information] can be [confusing|overwhelming], so [start with the basics|keep it simple at first].",
    "[The|Our] [postbag|inbox] [this month|this week] [included|brought] [several|a handful of] [thoughtful|kind] [letters|notes] on [exactly this point|this very question].",
    "Whatever you decide, write down the reasons, because it [helps|makes it easier] to look back later.",
    "[A calm|An unhurried] [morning|afternoon] is [usually|often] the best time to [try something new|make a start].",
    "[What|The thing that] [surprised|struck] us [most|most of all] was how [quickly|easily] the [basics|first steps] [fell into place|came together].",
    "[Sharing|Swapping] [notes|ideas] with others [makes|turns] the [work|whole thing] [lighter|more enjoyable].",
    "[Older|Experienced] [hands|readers] will [recognise|know] [much|most] of this, [but|though] a [refresher|reminder] does no harm.",
    "[Sometimes|Now and then] the [simplest|plainest] [explanation|answer] [turns out|proves] to be the right one.",
    "[Taking|Having] a [short|brief] break [often|usually] [brings|gives] a [fresh|clearer] view of the [problem|task].",
    "[Everyone|Each of us] [starts|begins] somewhere, and [the first step|getting started] is [often|usually] the hardest part.",
    "[Good|Honest] [records|notes] make [the next attempt|future attempts] [easier|much easier].",
    "[It pays|It is wise] to [check|confirm] the [details|facts] [twice|again] before [acting|committing].",
    "[In short|In other words], a [little|small amount of] [effort|care] [goes|can go] a long way.",
    "[Children|Younger readers] [often|usually] [ask|raise] the [best|sharpest] questions about subjects like this.",
    "[There is|You will find] [real|genuine] [pleasure|satisfaction] in doing [a job|something] [well|properly].",
    "[Not every|No] [plan|attempt] [works|goes smoothly] the first time, and [that is|this is] [no reason to stop|nothing to worry about].",
    "[Talking|Chatting] to [people|others] who [have done it before|know the subject] is [time well spent|always worthwhile].",
    "[Most|Many] [readers|people] [find|discover] that the [hardest|trickiest] part is simply [getting started|beginning].",
    "[A clear|An honest] [goal|aim] makes it easier to [stay on track|keep going] when [motivation|energy] [dips|fades].",
    "[On balance|All things considered], the [benefits|rewards] [clearly|easily] [outweigh|justify] the [effort|trouble].",
    "[Each|Every] [small|modest] [success|step] [builds|adds to] [confidence|experience] for the next one.",
    "[If|When] [something|anything] goes wrong, [a calm|a patient] [look|second look] [usually|often] [reveals|shows] the cause.",
    "[Curiosity|A curious mind] is [perhaps|probably] the most [useful|valuable] [tool|quality] of all.",
    "[Fresh|New] [ideas|approaches] [often|sometimes] come from [unexpected|surprising] [places|corners].",
    "[Small|Local] [groups|clubs] [welcome|are glad to see] [newcomers|beginners] and [are happy to|will gladly] [help|share what they know].",
    "[Keeping|Staying] [organised|tidy] [saves|spares] [a surprising amount of|more] [time|effort] than [most people expect|you might think].",
    "[Reading|Learning] about [it|the subject] is [useful|helpful], [but|yet] [doing it|trying it yourself] teaches [far|much] more.",
    "[A good|An honest] [question|conversation] is [often|usually] the [start|beginning] of a [better|clearer] [plan|understanding].",
    "[Quiet|Steady] [progress|improvement] is [easy to miss|easy to overlook] from one day to the next.",
    "[Gentle|Regular] [reminders|checks] help to [keep|hold] [things|everything] on course.",
]


# Sentences about the article's main subject ({subject} is always used as an object, so
# singular and plural subjects both read correctly).
SUBJECT = [
    "[Ask|Talk to] [almost anyone|people] in {town} about {subject} and you will hear [several|a dozen] different opinions.",
    "[Older|Long-standing] residents of {town} [remember|recall] a time when people talked about {subject} at [every|almost every] [kitchen table|family gathering].",
    "[We|Our reporter] spent [an afternoon|a morning] asking [visitors|shoppers] in {town} what they [knew|thought] about {subject}, and the answers were [surprising|varied].",
    "[Several|Some] of the [best|most helpful] [tips|ideas] about {subject} [came from|were suggested by] readers [after|following] our [last|previous] [article|feature].",
    "[A short|An evening] course on {subject} at the {town} community centre [filled up|was fully booked] [within a week|in a matter of days].",
    "There is a [small|well-thumbed] shelf of books about {subject} at the {town} library, and the [best|most popular] of them are [rarely|seldom] on the shelf for long.",
    "[Whenever|Each time] the conversation [turns|comes round] to {subject}, [someone|somebody] [always|inevitably] has a story to [share|tell].",
    "[Plenty of|Many] [families|households] in {town} [now|these days] [share|have] an interest in {subject}, [often|usually] [started|sparked] by [a child's question|a chance conversation].",
    "[Our|The] [readers'|letters] page [has received|received] more [letters|questions] about {subject} than about [almost anything else|any other subject] this [year|season].",
    "[Looking|Reading] [back through|through] [old|earlier] [issues|editions] of this [paper|magazine], we found [advice|articles] about {subject} going back [decades|many years].",
    "[Much|A good deal] of what people [believe|think they know] about {subject} turns out to be [only half true|a little out of date].",
    "For [anyone|people] new to {subject}, the [sheer|large] amount of [advice|information] [available|on offer] can feel [overwhelming|daunting].",
    "[Our|This] [guide|feature] [cannot cover|does not cover] everything about {subject}, but it should give [you|readers] a [solid|good] start.",
    "[Conversations|Chats] about {subject} [at|outside] the {town} [post office|bakery|school gates] [suggest|show] that [interest|curiosity] is [growing|as strong as ever].",
    "The [first|earliest] [article|piece] we ever printed about {subject} [appeared|ran] in [a|the] [spring|winter] edition [many|more than twenty] years ago.",
    "[People|Newcomers] [often|sometimes] [ask|wonder] whether it is worth [the time|the effort] to [learn about|read up on] {subject}, and our answer is [a firm yes|almost always yes].",
]

# ----------------------------------------------------------------------------------------------
# Topics. Each topic: titles, intro, sections (each a pool from which a paragraph or two is drawn,
# in order; a string names special sentences from the binder), close. Templates are never reused
# within one article.
# ----------------------------------------------------------------------------------------------


def person(rng: random.Random) -> tuple[str, str]:
    first = rng.choice(FIRST_NAMES)
    return first, f"{first} {rng.choice(LAST_NAMES)}"


# ---- cooking ---------------------------------------------------------------------------------

DISHES = [
    # dish, main ingredient (plural or mass noun), style
    ("lentil soup", "red lentils", "simmer"),
    ("apple crumble", "cooking apples", "bake"),
    ("mushroom risotto", "chestnut mushrooms", "stir"),
    ("sweet potato curry", "sweet potatoes", "simmer"),
    ("banana bread", "ripe bananas", "bake"),
    ("fish pie", "smoked haddock", "bake"),
    ("warm potato salad", "new potatoes", "boil"),
    ("pumpkin soup", "roasted pumpkin", "simmer"),
    ("oat biscuits", "rolled oats", "bake"),
    ("tomato sauce", "plum tomatoes", "simmer"),
    ("spinach and feta pie", "fresh spinach", "bake"),
    ("chicken stew", "chicken thighs", "simmer"),
    ("bean chilli", "kidney beans", "simmer"),
    ("lemon drizzle cake", "unwaxed lemons", "bake"),
    ("leek and potato soup", "leeks", "simmer"),
    ("barley salad", "pearl barley", "boil"),
    ("vegetable paella", "short grain rice", "stir"),
    ("pea and mint soup", "frozen peas", "simmer"),
]

COOK_STYLE = {
    "simmer": [
        "Warm a [little|spoonful of] oil in a {kitchen_tool} over a [medium|gentle] heat.",
        "Soften a chopped onion for [about|around] {n:6-12} minutes, stirring [now and then|every minute or so], until it turns [soft and golden|clear and sweet].",
        "Add the {main} and stir [well|thoroughly] so that [every piece|everything] is coated in the oil.",
        "Pour in enough [stock|water] to cover, bring it to the boil, then lower the heat [until it barely bubbles|to a gentle simmer].",
        "Let the {dish} simmer for {n:20-45} minutes, [stirring|checking] it [from time to time|every ten minutes] so that nothing sticks.",
        "[Season|Taste] it [towards|near] the end, because flavours [concentrate|grow stronger] as the liquid [reduces|cooks down].",
        "If it [looks|seems] too thick, [add|stir in] a splash of hot water; if it is too thin, [leave the lid off|let it bubble] for a few more minutes.",
        "[Finish with|Stir in] a [handful|small bunch] of chopped {herb} just before serving.",
        "The {dish} [tastes|is] even better the next day, once the flavours have had time to [settle|mingle].",
    ],
    "bake": [
        "Heat the oven to {n:170-200} degrees and line a [tin|baking dish] with [baking paper|a little butter].",
        "Prepare the {main} first, because [that takes|it takes] the longest and [everything else|the rest] can wait.",
        "[Weigh|Measure] the flour, sugar and butter [carefully|accurately], since baking is less forgiving than [stovetop cooking|making soup].",
        "Mix [gently|lightly] and [stop as soon as|stop once] everything is combined, or the texture [turns|becomes] [heavy|tough].",
        "Spread the mixture [evenly|level] in the [tin|dish] and [smooth|tidy] the top with the back of a spoon.",
        "Bake for {n:30-55} minutes, [turning the tin halfway through|checking once after half an hour] if your oven [has hot spots|cooks unevenly].",
        "A skewer pushed into the middle should come out [clean|almost clean] when the {dish} is ready.",
        "Let it cool for [ten minutes|a quarter of an hour] before [slicing|serving], so that it [holds together|sets properly].",
        "Resist the [urge|temptation] to open the oven door [too often|every few minutes], because each peek lets the heat out.",
    ],
    "boil": [
        "Bring a large pan of salted water to the boil before you do anything else.",
        "Add the {main} and cook for {n:12-25} minutes, until [tender|just soft] [but not falling apart|with a little bite left].",
        "Drain [well|thoroughly] and let the steam [rise|escape] for a minute or two, which keeps the {dish} from turning watery.",
        "While the pan bubbles, whisk [oil|olive oil], [lemon juice|vinegar], mustard and a pinch of salt [in a bowl|in a jar].",
        "Toss everything together while it is still warm, because warm ingredients [soak up|absorb] the dressing [far better|much better].",
        "Chop a [handful|small bunch] of {herb} and scatter it over the top [just before serving|at the last moment].",
        "[Taste|Check] the seasoning once more, adding [salt|pepper|a little more lemon] if it needs it.",
        "The {dish} [keeps well|travels well], which makes it ideal for [picnics|packed lunches|a shared table].",
    ],
    "stir": [
        "Keep a pan of hot stock [simmering|warm] on the back of the hob before you start.",
        "Soften a chopped onion in butter for {n:5-10} minutes without letting it [brown|colour].",
        "Stir in the {main} and toast it for [a minute|two minutes] until [the edges turn clear|it smells nutty].",
        "Add the stock one ladle at a time, stirring [steadily|often] and waiting until each ladle [is absorbed|has nearly gone].",
        "The whole process takes about {n:18-28} minutes, and it is worth staying [close|by the pan] the entire time.",
        "[Take|Lift] the pan off the heat while the {dish} is still [loose|a little wet], because it [keeps cooking|thickens] as it rests.",
        "A knob of butter and some grated cheese, stirred in at the end, make it [glossy|rich] and [smooth|creamy].",
        "Serve it [straight away|at once] in warm bowls, with extra {herb} on top.",
    ],
}

COOKING = {
    "titles": [
        "How to make {dish} the way {cook_first} does",
        "A simple {dish} for [busy weeknights|cold evenings|Sunday lunch|a hungry crowd]",
        "{dish}: [notes|lessons] from a [small|busy|family] kitchen in {town}",
        "Why {dish} is worth [the wait|an afternoon|learning properly]",
        "[Getting|Making] {dish} right, [step by step|without fuss]",
    ],
    "intro": [
        "There are few things more [comforting|satisfying|welcome] on a [cold|wet|quiet] {weekday} [evening|afternoon] than a [bowl|plate|portion] of {dish}.",
        "{cook}, who has [run a small café|cooked for a large family|taught cookery classes] in {town} for {n:6-30} years, [says|believes] that {dish} is [the first|one of the first] [dishes|things] every home cook should learn.",
        "This week we [asked|visited] {cook_first} to [share|explain] a [favourite|trusted] method for {dish}, and [the notes were worth writing down|we came away with several useful tips].",
        "Most [recipes|cookbooks] make {dish} sound [harder|fussier] than it is, but the basic method [needs only a few ingredients|fits on the back of an envelope].",
        "The [secret|trick], according to {cook_first}, is [patience|good ingredients|a little planning] rather than [expensive equipment|any special skill].",
        "If you have never made {dish} before, [this guide|the notes below] should help you [get it right the first time|avoid the most common mistakes].",
    ],
    "sections": [
        [
            "You will need [about|roughly] [three hundred|four hundred|five hundred|six hundred] grams of {main} for four people.",
            "Buy the {main} from a [market stall|greengrocer|local shop] if you can, because [freshness makes a real difference|the flavour is usually better].",
            "A [handful|small bunch|sprig or two] of {herb} [adds a lot of flavour|lifts the whole dish|brings a fresh note at the end].",
            "Keep [a little|some] butter, [olive oil|rapeseed oil], salt and black pepper [nearby|within reach] before you begin.",
            "{cook_first} [always|usually] [weighs|measures] everything before [starting|turning on the hob], which [saves time later|prevents mistakes].",
            "An onion and two cloves of garlic form the base of [many|most] savoury versions, [although|though] some cooks [leave the garlic out|add a stick of celery as well].",
            "If [the shop has run out of|you cannot find] {main}, [ask|look] for [something similar|a seasonal alternative] rather than [giving up|changing the whole plan].",
            "[Cheap|Simple] ingredients [can|will] taste [wonderful|excellent] when they are [cooked with care|treated gently|seasoned properly].",
            "It is worth [reading the whole recipe|laying everything out] before you start, so that [nothing catches you by surprise|the cooking goes smoothly].",
            "[Frozen|Tinned] ingredients are [perfectly acceptable|no cause for shame] [in winter|when fresh ones are scarce], and {cook_first} [uses them often|keeps a few in the cupboard].",
            "A [good|well-stocked] [spice drawer|store cupboard] [means|ensures] that [supper|a meal] is never far away, even on a [tired|busy] evening.",
            "[Check|Look at] the [dates|labels] on [stock cubes|jars and packets] [before|as] you [start|begin], because [old|stale] [spices|ingredients] lose their [flavour|strength].",
            "{cook_first} [prefers|likes] to [buy|shop] [little and often|for two or three days at a time], which [cuts|keeps down] waste.",
        ],
        "STYLE",
        [
            "{cook_first} [suggests|recommends] tasting [at every stage|as you go], not only at the end.",
            "A [common|frequent] mistake is [rushing|turning the heat up too high], which [can spoil|tends to ruin] the texture.",
            "Leftovers keep [well|happily] in the fridge for {w:2-3} days in a covered dish.",
            "[Many people|Some families] freeze [half|a portion] for a [busy|tired] evening later in the [week|month].",
            "Serve it with {side} and {drink}.",
            "[Children|Younger cooks] can help by [washing the vegetables|measuring the ingredients|stirring], which [makes the meal more fun|teaches them useful skills].",
            "Write down [what you changed|any changes you make] so that [next time|the next batch] is [even better|just as good].",
            "A [sharp|good] knife and a [steady|solid] chopping board make the preparation [safer|quicker] and [far more pleasant|much easier].",
            "[Clean|Wash up] as you go, and the kitchen will [still be tidy|look calm] when the food is ready.",
            "[Double|Halve] the quantities [if you need to|as required], but keep the cooking times [roughly|more or less] the same.",
            "[A squeeze of lemon|A pinch of salt] at the [very|last] end can [wake up|brighten] [flavours|a dish] that taste [flat|dull].",
            "[Label|Mark] [anything|every box] you freeze with the name and date, because [frozen|icy] [boxes|tubs] all look the same [after a week|in a month].",
            "[Warm|Heat] the [plates|bowls] [in a low oven|with hot water] for a few minutes, [so that|and] the food stays hot [at the table|for longer].",
        ],
        [
            "{cook_first} first learned to make {dish} from [a grandmother|an uncle|a neighbour|an old friend] who [lived|grew up] near {town}.",
            "In those days [few people|hardly anyone] owned [a food processor|a modern oven|much equipment], so everything was done by hand.",
            "The [recipe|method] has changed [a little|only slightly] over the years, [but|yet] the [spirit|idea] is the same.",
            "[Regulars|Friends] at {cook_first}'s table still ask for it [by name|every week].",
            '"It is not a [fancy|complicated] dish," {cook_first} [told us|said with a smile], "but it [makes people happy|brings people together]."',
            "[Cooking|Sharing food] with [family|friends] was, for {cook_first}, [always|never just] about more than the food itself.",
            "Some of the [best|most useful] [advice|tips] came from [mistakes|failed attempts] made [long ago|years ago] in a [tiny|cramped] kitchen.",
            "[A handwritten|An old] [card|notebook] with the [original|first] [recipe|method] still [hangs|sits] [by the cooker|on a shelf] in {cook_first}'s kitchen.",
            "[Over the years|Since then], {cook_first} has [cooked|made] {dish} for [weddings|birthdays|village suppers] and [at least one|more than one] [funeral|farewell party].",
            "[Neighbours|Friends] in {town} [still|often] [drop by|call in] [on|each] {weekday} [evenings|afternoons] [hoping|in the hope] that [a pot|something] is on the stove.",
        ],
    ],
    "close": [
        "[Give it a try|Try it] this [week|weekend] and [see what your family thinks|see how it turns out].",
        "[With a little practice|After a couple of attempts], {dish} [will become|can become] one of your [favourite|most reliable] [meals|recipes].",
        "Next [week|month], {cook_first} [will share|has promised] [another|a new] [recipe|idea] [for the colder months|using seasonal vegetables].",
        "[However|Whenever] you serve it, {dish} is [best|nicest] eaten [with good company|slowly, at a shared table].",
    ],
}

# ---- gardening -------------------------------------------------------------------------------

PLANTS = [
    # plural name, sowing month, harvest phrase
    ("tomatoes", "March", "from late July"),
    ("runner beans", "May", "from August"),
    ("sweet peas", "October", "in early summer"),
    ("early potatoes", "March", "in June and July"),
    ("lettuces", "April", "within eight weeks"),
    ("strawberries", "April", "in June"),
    ("garlic bulbs", "October", "the following July"),
    ("courgettes", "May", "all through August"),
    ("carrots", "April", "from July onwards"),
    ("raspberries", "November", "in their second summer"),
    ("sunflowers", "April", "in late summer"),
    ("broad beans", "November", "in early June"),
    ("leeks", "March", "through the winter"),
    ("dahlias", "May", "from midsummer until the first frost"),
    ("onions", "March", "in August"),
    ("beetroots", "April", "after about ten weeks"),
    ("parsnips", "April", "after the first frosts"),
]

GARDENING = {
    "titles": [
        "Growing {plant} in a [small|busy|windy] garden",
        "What {gardener_first} learned from a year of growing {plant}",
        "{plant} for beginners: [a practical guide|the basics|simple steps]",
        "[Notes|News] from the {town} allotments: {plant}",
        "How to get [more|a better crop of] {plant} [without much fuss|on a budget]",
    ],
    "intro": [
        "{gardener}, who has kept an allotment in {town} for {n:5-35} years, grows {plant} [every year|most years] and [rarely|seldom] has a poor crop.",
        "[Few|Not many] crops give [as much|more] [pleasure|satisfaction] for [so little|as little] effort as {plant}.",
        "If you have [a sunny corner|a few large pots|a spare bed] and [a little|some] patience, you can grow {plant} [this year|next season].",
        "We spent a [bright|damp|breezy] {weekday} morning with {gardener_first} to [learn|find out] how the [best|healthiest] {plant} on the site are [raised|grown].",
        "[Gardeners|Growers] in {town} have [swapped tips|argued] about {plant} for [generations|as long as anyone can remember].",
        "This guide [covers|walks through] [everything|the main steps] from sowing to harvest, with [advice|tips] from people who have grown them for years.",
    ],
    "sections": [
        [
            "Most growers [sow|plant] {plant} in {sow_month}, [although|though] the exact week depends on the [weather|soil temperature].",
            "[Choose|Pick] a spot that gets at least {w:5-8} hours of sun, because {plant} [sulk|struggle] in [shade|deep shade].",
            "Dig in [a barrow load|a few buckets] of [well rotted compost|garden compost] before planting, which [feeds the soil|improves the soil] and helps it hold water.",
            "[Space|Set] the plants [about|roughly] {n:20-45} centimetres apart so that air can move [between them|freely].",
            "{gardener_first} [keeps|writes] a simple diary of sowing dates, which makes it easy to compare one year with the next.",
            "Seed [packets|suppliers] [often|usually] give [cautious|careful] advice, and in a [mild|sheltered] spot you can [start|sow] a week or two earlier.",
            "Cheap [seed trays|pots] work [just as well as|every bit as well as] expensive ones, as long as they [drain|let water out] properly.",
            "[Label|Mark] every row or pot, because [young|tiny] seedlings [look alike|are easy to confuse] for the first few weeks.",
            "A cold frame or a [sunny|bright] windowsill gives young plants a [head start|useful start] while nights are still cold.",
            "[Harden off|Toughen up] the young plants for a week by putting them outside during the day and bringing them in at night.",
            "[Sow|Plant] a few extra, because [not every seed|not every young plant] [will|is going to] [survive|make it] [the first few weeks|to the summer].",
            "[Raised beds|Deep containers] [warm up|dry out] [sooner|faster] in spring, which [suits|helps] [an early start|early sowings].",
        ],
        [
            "Water [deeply|thoroughly] once or twice a week rather than a little every day, so that roots grow down [instead of|rather than] sideways.",
            "In [dry|hot] weather, water in the [early morning|evening] when less is lost to the sun.",
            "A layer of mulch around the [plants|stems] keeps the soil [moist|damp] and the weeds down.",
            "{pest} can be a [nuisance|real problem], [especially|particularly] after [rain|a wet night].",
            "{gardener_first} [checks|walks] the rows [every evening|twice a week] with a torch and [removes|picks off] [any|the] {pest} by hand.",
            "[Companion plants|Marigolds and nasturtiums] planted nearby can [attract|bring in] insects that [help|keep pests in check].",
            "[Feed|Give] the plants a liquid feed every {w:2-3} weeks once [the first flowers appear|they start to grow strongly].",
            "[Weeds|Weed seedlings] are easiest to [deal with|remove] when they are small, so a quick hoe on a dry day saves hours later.",
            "If leaves turn [yellow|pale] at the bottom of the plant, it is [often|usually] a sign of [thirst|hunger] rather than disease.",
            "A [light|simple] net [keeps off|protects against] birds, [especially|above all] in the first weeks after planting.",
            "[Rainwater|Water from a butt] is kinder to plants than [tap water|water from the mains], and it costs nothing.",
            "[Strong|Gusty] winds can [snap|damage] [tall|young] stems, so [push in|put in] [canes|stakes] [early|before they are needed].",
        ],
        [
            "You can [expect|hope] to harvest {plant} {harvest}, [depending on the season|weather permitting].",
            "[Pick|Gather] [often|regularly], because [many|most] plants produce more when the crop is [taken|picked] [young|promptly].",
            "The [best|sweetest] {plant} are [usually|often] the ones [picked|eaten] on the same day.",
            "Any surplus can be [shared with neighbours|given to the food bank|swapped at the allotment gate].",
            "{gardener_first} saves [seed|a few plants] from the [strongest|healthiest] [specimens|plants] every year.",
            "At the end of the season, clear the bed and [sow|plant] a green manure to protect the soil over winter.",
            "[Rotate|Move] crops to a different bed each year, which [helps|reduces] the build-up of pests and diseases.",
            "Keep a note of [which varieties did well|what worked], because [conditions|soils] differ [a lot|greatly] between gardens.",
            "[Store|Keep] [any|the] [spare|extra] [crop|harvest] somewhere [cool, dark and dry|cool and airy], and check it [every week|now and then] for [soft spots|signs of rot].",
            "[Photographs|A few photographs] taken [through the season|every fortnight] make a [useful|handy] [record|reminder] for the following year.",
        ],
        [
            "The allotments in {town} [were|have been] [tended|worked] since [before the war|the early nineteen hundreds], and [some|several] plots have passed [through|down] {w:3-4} generations.",
            "[New|Younger] [plot holders|gardeners] [often|usually] [arrive|start] with [big|grand] plans and [learn|discover] [quickly|soon] that [less|a smaller plot] is more.",
            "The [waiting list|list] for a plot in {town} is [long|growing], so [some|many] [newcomers|people] [share|split] a plot with a friend.",
            "[Every|Each] {season}, the [site|society] [holds|runs] a [seed swap|produce show] in the [old|wooden] [hut|pavilion] by the gate.",
            '"[You never stop learning|Every year is different]," {gardener_first} [said|told us], [leaning on a spade|pausing between rows].',
            "[Visitors|Passers-by] [often|sometimes] [stop|pause] at the [fence|gate] to [ask|chat] about what is growing.",
            "[A few|Several] [plots|beds] are [kept|set aside] for the [local primary school|children from the nearby school], whose [pupils|classes] visit [every|each] {weekday}.",
            "[Tea|A flask of tea] [in|at] the [shelter|hut] [on a wet afternoon|after a morning's digging] is, [for many|according to most], [the best part|half the pleasure] of [allotment life|the whole thing].",
        ],
    ],
    "close": [
        "[Whether|However] you have a [large|small] plot or [a few|just two] pots, {plant} are well worth [a try|the effort].",
        "The {town} allotment society [meets|holds an open day] on the first {weekday} of every month, and [newcomers|visitors] are [always|very] welcome.",
        "[Start small|Begin modestly], [learn as you go|keep notes], and [next year|the following season] will be [easier|even better].",
        '[As|In the words of] {gardener_first} [puts it|likes to say], "The garden [teaches|rewards] patience [every single time|before anything else]."',
    ],
}

# ---- local history ---------------------------------------------------------------------------

LANDMARKS = [
    # name, what it was, trade
    ("the old corn mill", "a water mill", "flour"),
    ("the Corn Exchange", "a market hall", "grain"),
    ("the railway station", "a station", "coal"),
    ("the stone bridge", "a packhorse bridge", "wool"),
    ("the lighthouse", "a harbour light", "fishing"),
    ("the rope walk", "a rope works", "rope"),
    ("the tannery yard", "a tannery", "leather"),
    ("the brick kilns", "a brickworks", "bricks"),
    ("the lace school", "a lace school", "lace"),
    ("the salt pans", "a salt works", "salt"),
    ("the ferry house", "a ferry crossing", "timber"),
    ("the assembly rooms", "a meeting hall", "wool"),
    ("the pottery", "a pottery", "clay pots"),
    ("the clock tower", "a town clock", "watchmaking"),
    ("the almshouses", "a row of almshouses", "cloth"),
    ("the canal basin", "a canal wharf", "stone"),
    ("the old foundry", "an iron foundry", "iron"),
]

HISTORY = {
    "titles": [
        "The [story|history] of {landmark} in {town}",
        "[How|Why] {landmark} shaped {town}",
        "{town} remembers {landmark}",
        "[Lost|Hidden] {town}: {landmark} [and the people who worked there|through the years]",
        "From {trade} to [tourism|heritage]: {landmark} at {town}",
    ],
    "intro": [
        "[Few|Not many] people who pass {landmark} today [know|realise] that it was once the busiest place in {town}.",
        "The [history|story] of {town} is [closely|tightly] tied to {landmark}, which was built in {y:1760-1860} as {what}.",
        "For more than a century, {landmark} [was the heart of|gave work to] {town}, and [traces of it|its name] [can still be found|survive] [everywhere|across the town].",
        "{historian}, who [chairs|volunteers at] the {town} local history society, has spent {w:3-12} years [collecting|gathering] [letters|photographs|records] about {landmark}.",
        "A new exhibition at the {town} library tells the [story|long story] of {landmark} through [maps|photographs|letters] and [the memories of|interviews with] older residents.",
        "When {what} opened beside {river} in {y:1760-1860}, {town} was [little more than|only] a [handful|cluster] of cottages.",
    ],
    "sections": [
        [
            "The [first|earliest] [records|documents] mention {landmark} in a [deed|rent book|parish register] from {y:1700-1780}.",
            "It was [founded|built] by {founder}, a [merchant|local landowner|carpenter] who [saw|spotted] a chance to [profit from|make a living from] {trade}.",
            "[Within|In less than] {w:10-30} years, the business [employed|gave work to] [more than|nearly] {n:40-300} people.",
            "[Workers|Families] came from [the surrounding villages|miles around] [to find work|looking for steady wages], and the town grew [quickly|rapidly].",
            "New streets of [terraced|brick] houses were [laid out|built] [close to|near] the works, and [several|many] of them still stand.",
            "The waters of {river} [powered|drove] the [early|first] machinery, and [barges|boats] carried the {trade} [downstream|to the coast].",
            "[Old|Surviving] account books show that [wages were|pay was] [low|modest] but [steady|regular], which [mattered|counted] a great deal at the time.",
            "[Children|Young apprentices] [often|sometimes] started work at the age of {w:10-13}, [a fact|something] that [shocks|surprises] visitors today.",
            "A [local|parish] school was [opened|founded] in {y:1820-1880}, [partly|largely] paid for by the owners of {landmark}.",
            "[A|The] [chapel|reading room] [built|set up] for the workers [in|around] {y:1830-1870} [still|now] [serves|works] as a [meeting place|village hall].",
            "[Letters|Diaries] [kept|written] by {founder_first}'s [family|daughter] [describe|record] [long|hard] winters, [floods|a flood] and [busy|crowded] market days.",
        ],
        [
            "In {y:1860-1900}, a [serious|terrible] fire [destroyed|damaged] [much|a large part] of the building, and it took {w:2-5} years to rebuild.",
            "When the railway [reached|came to] {town} in {y:1845-1875}, [trade|business] [changed|shifted] [almost overnight|within a few years].",
            "[Competition|Cheaper goods] from [larger|bigger] towns [slowly|gradually] [reduced|cut] the demand for local {trade}.",
            "By the early twentieth century, [fewer than|only about] {n:12-40} people still worked [there|at the site].",
            "[During|In the years of] the [First|Second] World War, the building was used as a [store|depot|hospital] [for a time|for several years].",
            "The works finally closed in {y:1920-1965}, and the [site|buildings] stood [empty|unused] for [many|several] years.",
            "[Plans|Proposals] to [demolish|pull down] {landmark} in the [1960s|1970s] were [stopped|halted] after a [campaign|petition] by residents.",
            "[Photographs|Pictures] from the period show [crowded|busy] yards, [heavy|horse-drawn] carts and workers in [long aprons|flat caps].",
            "[A|The] [great|terrible] flood of {y:1880-1915} [swept|washed] [away|through] [part of|much of] the yard, and the [marks|water line] can still be seen on [one wall|the gatepost].",
            "[Strikes|A long strike] over [pay|hours] in {y:1890-1925} [divided|split] the town for [a summer|several months], and [some|a few] families [never spoke to each other|did not speak] again.",
        ],
        [
            "Today {landmark} is [a small museum|a community space|home to studios and a café], and [volunteers|local people] [run|look after] it.",
            "[Schoolchildren|Visitors] can [see|handle] [tools|objects] that were [used|made] [there|on the site] more than a century ago.",
            "The history society [records|collects] the memories of older residents, [some of whom|several of whom] [remember|recall] the last working days.",
            "{historian_first} [believes|thinks] that [remembering|telling] these stories helps newcomers [feel at home|understand the town].",
            '"Every [street name|old wall] here [has a story|tells us something]," {historian_first} [said|told us], "if you know where to look."',
            "A [walking trail|heritage trail] with {w:6-12} [plaques|information boards] now [links|connects] {landmark} with other [old|historic] sites in {town}.",
            "[Donations|Grants] [from|raised by] residents paid for [a new roof|repairs to the walls|the restoration of the old sign].",
            "The [archive|collection] is open [on|every] {weekday} afternoon, and [anyone|members of the public] can [ask to see|look at] the [maps|records].",
            "[An|One] [elderly|retired] resident [still|proudly] [keeps|owns] a [ledger|wage packet|brass token] from the [last|final] [year|week] of work at {landmark}.",
            "[Recordings|Interviews] [made|collected] by the society [can be heard|are played] [in the museum|at the library] [on|every] [the first Saturday of the month|{weekday} mornings].",
        ],
    ],
    "close": [
        "The exhibition about {landmark} runs until the end of {month} and entry is free.",
        "[Anyone|Readers] with [old photographs|family stories] about {landmark} [are invited|are asked] to [contact|get in touch with] the history society.",
        "[In a sense|In many ways], the story of {landmark} is the story of {town} itself.",
        "[Next time|The next time] you walk past, [take a moment|stop for a moment] to [look up|imagine the noise and bustle of the old works].",
    ],
}

# ---- travel ----------------------------------------------------------------------------------

DESTINATIONS = [
    # name, sight, second sight, local food, transport phrase
    ("Gullhaven", "harbour", "old lighthouse", "fish soup", "train"),
    ("Larkspur Ridge", "market square", "hilltop chapel", "cheese pastries", "bus"),
    ("Penhallow", "sea wall", "tin mine museum", "saffron buns", "train"),
    ("Kestrel Bay", "promenade", "lifeboat station", "crab sandwiches", "bus"),
    ("Caddington Falls", "waterfall", "mill museum", "oat cakes", "bicycle"),
    ("Westmere Quay", "quayside", "customs house", "smoked mackerel", "ferry"),
    ("Amberley Down", "village green", "windmill", "apple cake", "bicycle"),
    ("Sorrel Heath", "heath", "stone circle", "honey bread", "bus"),
    ("Cobble Hill", "castle ruins", "old gaol", "meat pies", "train"),
    ("Saltersby", "salt marsh", "bird hide", "samphire tart", "bicycle"),
    ("Thornwick", "abbey ruins", "walled garden", "plum tart", "train"),
    ("Wrenford", "canal towpath", "lock keeper's cottage", "pork pies", "boat"),
    ("Brindlemoor", "moorland path", "packhorse bridge", "curd tart", "bus"),
    ("Elmstead Marsh", "river mouth", "boatyard", "oyster stew", "ferry"),
    ("Hollin Bridge", "riverside gardens", "old toll house", "cherry scones", "train"),
    ("Quillsby", "clifftop path", "coastguard cottages", "fish cakes", "bus"),
    ("Lowmoor", "reservoir", "drovers' inn", "lamb stew", "bus"),
]

TRAVEL = {
    "titles": [
        "A [weekend|long weekend|few days] in {dest}",
        "{dest} [by {transport}|on foot|out of season]",
        "[Slow|Quiet] travel: [three days|a week] in {dest}",
        "What to see in {dest} [if you only have a day|on a budget]",
        "[Why|How] {dest} [surprised|charmed] us",
    ],
    "intro": [
        "{dest} is the kind of place that [rewards|repays] a slow [visit|walk] rather than a [quick|rushed] [tour|stop].",
        "We arrived in {dest} by {transport} on a [grey|bright|windy] {weekday} [morning|afternoon], with no plan beyond [finding lunch|a walk by the water].",
        "[Most|Many] visitors [pass through|drive past] {dest} on their way [somewhere else|to the coast], and they are missing [a great deal|a lot].",
        "{traveller}, who has [written|published] [several|two] guidebooks about the region, describes {dest} as [the best kept secret on the coast|a town that rewards curiosity].",
        "[Getting to|Reaching] {dest} takes [a little|some] effort, but the journey is part of the [pleasure|charm].",
        "This is a [short|practical] guide to {dest}, [based on|drawn from] {w:2-4} visits in different seasons.",
    ],
    "sections": [
        [
            "The journey by {transport} from {any_town} takes about {n:40-170} minutes, and the last stretch [follows|runs along] the river.",
            "[Book|Reserve] a room [early|in advance] [in summer|in the busy months], [because|since] [there are only a few|there are not many] small hotels.",
            "[Outside|Out of] the summer holidays, prices [fall|drop] [sharply|considerably] and the streets are [quieter|calmer].",
            "The tourist office [near|beside] the {sight} [gives out|hands out] free maps and [friendly|useful] advice.",
            "[Comfortable|Sturdy] shoes are [essential|a must], because the old streets are steep and [cobbled|uneven].",
            "[Most|Many] of the [main|best] sights are within a {n:10-25} minute walk of each other.",
            "[A day ticket|A weekly pass] for the local buses costs [very little|less than a meal] and [covers|includes] the nearby villages.",
            "The weather can change [quickly|in minutes], so [pack|bring] a [light|waterproof] jacket even in {season}.",
            "[Guest houses|Small hotels] [near|above] the {sight} [fill up|are booked] [first|quickly], [so|and] the [quieter|cheaper] rooms are [usually|often] [up the hill|further inland].",
            "[Campers|Walkers] will find a [small|simple] [campsite|hostel] [about|roughly] {w:2-4} kilometres [out of town|along the coast road].",
            "[Cash machines|Banks] are [few|scarce] [outside the centre|in the villages], so [carry|take] a little cash [for the buses|for small cafés].",
        ],
        [
            "Start at the {sight}, which [is at its best|looks its best] in the [early morning|late afternoon] light.",
            "[From there|Next], [follow|take] the [path|lane] along the water to the {sight2}.",
            "The {sight2} [dates from|was built in] the {n:14-18}th century and [is open|opens] to visitors [most days|from Easter to October].",
            "[Allow|Set aside] [an hour|two hours] for the [small|local] museum, which [tells|explains] the story of the [harbour|town|valley].",
            "[On|Every] {weekday}, a [market|street market] [fills|takes over] the main square with [stalls|traders] selling [cheese|bread|fruit and flowers].",
            "[A|The] [short|steep] climb to the [viewpoint|headland] [above the town|behind the church] [is worth|rewards] the [effort|breathless moments] for the view alone.",
            "[Families|Children] will enjoy the [rock pools|boat trips|open air swimming pool] [near|beside] the {sight}.",
            "[The|A] [guided|free] walking tour leaves from the {sight} at ten o'clock and lasts about {w:2-3} hours.",
            "[A|One] [circular|gentle] walk of {w:5-9} kilometres [links|joins] the {sight} with [two|three] [neighbouring|nearby] villages.",
            "[Birdwatchers|Painters] [gather|set up] [near|by] the {sight2} [at dawn|in the evenings], when the light [is softest|changes by the minute].",
            "[If it rains|On a wet day], the [small|old] [library|gallery] [near|behind] the square [makes|is] a [cosy|welcome] refuge.",
        ],
        [
            "For lunch, [try|look for] the local {food}, [served|sold] in [small|family] cafés [near|around] the harbour.",
            "[Dinner|Supper] is [usually|often] served early, so [book|arrive] before eight [if you want a table|to avoid disappointment].",
            "A [small|tiny] bakery [near|behind] the {sight} [sells|makes] the best {food} we [tasted|found] [anywhere|on the whole trip].",
            "Prices in {dest} are [reasonable|fair], and [most|many] places [accept|take] cards [as well as|and] cash.",
            "[Ask|Let] the [locals|staff] [for|recommend] their [favourite|usual] [dishes|places], because [the best|many] [spots|cafés] [have no signs|are easy to miss].",
            "[Tap water|The water] is [safe|fine] to drink, and [several|many] fountains in the old town [let you refill bottles|are free to use].",
            "{traveller_first} [recommends|suggests] [a picnic|an evening walk] [on|along] the [harbour wall|river bank] as the [perfect|ideal] end to a day.",
            "[The|A] [weekly|Saturday] [farmers'|produce] market is the place to [buy|pick up] [picnic food|local cheese] and [chat|talk] with [growers|farmers].",
            "[Many|Most] [cafés|tea rooms] [close|shut] [early|by five] [outside the summer|out of season], so [plan|time] [lunch|your meals] [accordingly|with care].",
        ],
        [
            "{dest} grew up around its {sight}, and [fishing|farming|trade] [shaped|defined] [the town|daily life] for centuries.",
            "[Many|Several] of the [houses|cottages] [near|around] the {sight2} [are|were] built from [local|grey] stone [quarried|cut] [nearby|in the hills].",
            "[Locals|Residents] [are|seem] [proud|fond] of their [history|traditions], and [a festival|an annual fair] every {month} [celebrates|marks] the town's past.",
            "[Street names|Old signs] [such as|like] [Ropemakers Lane|Salt Street|Weavers Row] [hint|point] at [trades|industries] that [have long gone|disappeared long ago].",
            "[An|The] old [railway line|drovers' road] [now|today] [serves as|makes] a [footpath|cycle path] [popular with|loved by] {walker_word}.",
            "{traveller_first} [spent|passed] [an afternoon|a morning] [talking|chatting] with [a retired fisherman|the owner of a bookshop] who [knew|remembered] the history of every [building|street] [in town|by heart].",
            "[The|A] [small|volunteer-run] [heritage centre|museum] [holds|keeps] [old|faded] [photographs|maps] of {dest} from the days before the [tourists|holiday makers] [came|arrived].",
            "[In the evenings|After dark], [the town grows|the streets grow] quiet, and [the only sound is|all you can hear is] [the sea|the wind|the church bells].",
        ],
    ],
    "close": [
        "[Whether|However long] you stay, {dest} [leaves|makes] a [lasting|strong] impression.",
        "We [left|went home] [promising|planning] to return [in another season|next year], which is perhaps the best compliment a place can receive.",
        "If you [go|visit], [take your time|slow down], and let {dest} [reveal itself|show you its quieter side].",
        "[Trains|Buses] to {dest} run [every day|daily], and [the timetable is posted|the times are listed] at the station.",
    ],
}
# ---- science explainers (one article per concept; facts are real) ---------------------------

SCIENCE_CONCEPTS = {
    "tides": {
        "title": ["What causes the tides?", "Why the sea rises and falls twice a day", "Tides explained"],
        "facts": [
            "Tides are caused mainly by the pull of the Moon's gravity on the oceans.",
            "The Moon pulls hardest on the water nearest to it, so the sea bulges out on that side of the Earth.",
            "A second bulge forms on the far side of the Earth, where the Moon's pull is weakest.",
            "As the Earth turns, most coasts pass through both bulges, which is why many places see two high tides a day.",
            "High tides are usually a little more than twelve hours apart, because the Moon also moves along its orbit.",
            "The Sun affects the tides too, but its effect is less than half that of the Moon.",
            "When the Sun and the Moon line up, at new moon and full moon, their pulls add together and we get large spring tides.",
            "When they pull at right angles, at the quarter moons, the difference between high and low water is smaller, and these are called neap tides.",
            "The shape of the coast matters a great deal, and narrow bays can make the tidal range much larger.",
            "Some enclosed seas, such as the Mediterranean, have only small tides.",
        ],
    },
    "rainbows": {
        "title": ["How a rainbow is made", "Why rainbows appear after rain", "The science of rainbows"],
        "facts": [
            "A rainbow appears when sunlight shines into falling raindrops while the Sun is behind you.",
            "White sunlight is a mixture of many colours.",
            "When light enters a raindrop it bends, and each colour bends by a slightly different amount.",
            "The light reflects off the back of the drop and bends again as it leaves, which spreads the colours apart.",
            "Red light appears on the outside of the bow and violet on the inside.",
            "A rainbow is always a circle centred on the point directly opposite the Sun, but the ground usually hides the lower part.",
            "From an aeroplane, people sometimes see a complete circular rainbow.",
            "A fainter second bow sometimes appears outside the first, with its colours in the reverse order.",
            "Rainbows are most common in the early morning and late afternoon, when the Sun is low in the sky.",
            "Each person sees their own rainbow, made by a different set of raindrops.",
        ],
    },
    "thunder and lightning": {
        "title": [
            "Where thunder comes from",
            "Lightning and thunder explained",
            "What happens in a thunderstorm",
        ],
        "facts": [
            "Lightning is a giant electric spark that forms inside storm clouds.",
            "Inside a tall storm cloud, tiny pieces of ice and water collide, and the collisions separate electric charges.",
            "When the difference in charge becomes large enough, a spark jumps within the cloud or down to the ground.",
            "A lightning bolt heats the air around it to temperatures hotter than the surface of the Sun.",
            "The heated air expands so quickly that it makes a shock wave, and we hear that wave as thunder.",
            "Light travels much faster than sound, so we see the flash before we hear the thunder.",
            "Sound travels about one kilometre in three seconds.",
            "Counting the seconds between the flash and the thunder and dividing by three gives a rough distance in kilometres.",
            "Tall objects, such as trees and towers, are more likely to be struck.",
            "The safest place during a thunderstorm is inside a building or a car with a metal roof.",
        ],
    },
    "the seasons": {
        "title": ["Why we have seasons", "The reason for the seasons", "Summer, winter and the tilted Earth"],
        "facts": [
            "The Earth's axis is tilted by about 23.5 degrees compared with its path around the Sun.",
            "Because of this tilt, each half of the Earth leans towards the Sun for part of the year and away from it for the rest.",
            "When your half of the Earth leans towards the Sun, the days are longer and the Sun climbs higher in the sky.",
            "Sunlight that arrives from high overhead is more concentrated, so it warms the ground more.",
            "That is why summer is warm and winter is cold.",
            "The seasons are not caused by changes in the distance between the Earth and the Sun.",
            "In fact, the Earth is closest to the Sun in early January, during the northern winter.",
            "When it is summer in the northern half of the world, it is winter in the southern half.",
            "Near the equator the tilt matters less, and many places have wet and dry seasons instead of hot and cold ones.",
            "The longest day of the year is called the summer solstice.",
        ],
    },
    "the water cycle": {
        "title": ["The water cycle explained", "Where rain comes from", "The endless journey of water"],
        "facts": [
            "The water cycle is the continuous movement of water between the land, the sea and the air.",
            "The Sun warms the oceans, lakes and rivers, and some of the water evaporates into invisible water vapour.",
            "Plants also release water vapour through their leaves.",
            "As warm, moist air rises, it cools, and the vapour condenses into tiny droplets that form clouds.",
            "When the droplets join together and grow heavy enough, they fall as rain, snow or hail.",
            "Some of that water runs off into streams and rivers and flows back to the sea.",
            "Some soaks into the ground and becomes groundwater, which can stay underground for a very long time.",
            "Most of the water on Earth is salt water in the oceans.",
            "Only a small share of the Earth's water is fresh water, and much of that is frozen in ice caps and glaciers.",
            "The same water has been moving around this cycle for billions of years.",
        ],
    },
    "the phases of the Moon": {
        "title": [
            "Why the Moon changes shape",
            "The phases of the Moon explained",
            "New moon, full moon and everything between",
        ],
        "facts": [
            "The Moon does not make its own light; it shines because it reflects sunlight.",
            "Half of the Moon is always lit by the Sun, but we see different amounts of that lit half as the Moon orbits the Earth.",
            "At new moon, the Moon is between the Earth and the Sun, and its lit side faces away from us.",
            "At full moon, the Moon is on the far side of the Earth from the Sun, and we see the whole lit face.",
            "Between these, we see a crescent, a half moon and a gibbous moon.",
            "The whole cycle of phases takes about twenty-nine and a half days.",
            "The Moon takes about twenty-seven days to orbit the Earth.",
            "The Moon always shows the same face to the Earth, because it spins once for every orbit.",
            "When the lit part is growing, we say the Moon is waxing, and when it is shrinking, we say it is waning.",
            "The Earth's shadow does not cause the phases; it only falls on the Moon during a lunar eclipse.",
        ],
    },
    "photosynthesis": {
        "title": ["How plants make their food", "Photosynthesis in plain words", "Why leaves are green"],
        "facts": [
            "Photosynthesis is the process plants use to make food from light, water and carbon dioxide.",
            "It takes place mainly in the leaves, inside tiny structures called chloroplasts.",
            "Chloroplasts contain a green substance called chlorophyll, which absorbs light.",
            "Chlorophyll absorbs red and blue light well but reflects green light, which is why leaves look green.",
            "Plants take in carbon dioxide from the air through small openings in their leaves called stomata.",
            "Water travels up from the roots through the stem to the leaves.",
            "Using the energy of light, the plant turns water and carbon dioxide into sugar.",
            "Oxygen is released as a by-product, and much of the oxygen we breathe comes from photosynthesis.",
            "Plants use the sugar for energy and to build new leaves, stems and roots.",
            "In autumn, many trees stop making chlorophyll, and the yellow and orange colours in the leaves show through.",
        ],
    },
    "volcanoes": {
        "title": ["How volcanoes work", "Inside a volcano", "Why volcanoes erupt"],
        "facts": [
            "A volcano is an opening in the Earth's crust through which molten rock escapes.",
            "Molten rock underground is called magma, and once it reaches the surface it is called lava.",
            "Magma forms deep below the surface, where it is hot enough for rock to melt.",
            "Magma is lighter than the solid rock around it, so it slowly rises.",
            "Gases dissolved in the magma form bubbles as it rises, a little like the bubbles in a fizzy drink when the bottle is opened.",
            "Thick, sticky magma traps the gas, which can lead to explosive eruptions.",
            "Runny magma lets the gas escape more easily, and the lava flows out more gently.",
            "Many volcanoes sit along the edges of the great plates that make up the Earth's surface.",
            "Volcanic ash can travel hundreds of kilometres on the wind.",
            "Over time, volcanic soils can become very fertile, which is one reason people farm near volcanoes.",
        ],
    },
    "magnets": {
        "title": ["How magnets work", "The pull of a magnet", "Magnets and compasses explained"],
        "facts": [
            "Every magnet has two ends, called the north pole and the south pole.",
            "Opposite poles attract each other, and like poles push each other away.",
            "A magnet attracts some metals, such as iron, nickel and cobalt, but not most others.",
            "Aluminium and copper are not attracted to ordinary magnets.",
            "The space around a magnet where its force can be felt is called a magnetic field.",
            "The Earth itself behaves like a giant magnet.",
            "A compass needle is a small magnet that lines up with the Earth's magnetic field.",
            "That is why a compass needle points roughly north.",
            "An electric current flowing through a coil of wire makes a magnetic field, which is how electromagnets work.",
            "Electromagnets can be switched on and off, so they are used in cranes, motors and loudspeakers.",
        ],
    },
    "sound": {
        "title": ["How sound travels", "What is sound?", "Why we hear echoes"],
        "facts": [
            "Sound is made when something vibrates.",
            "The vibrations push and pull on the air, making waves that spread out in every direction.",
            "When the waves reach our ears, they make the eardrum vibrate, and the brain turns those vibrations into sound.",
            "Sound travels at about 340 metres per second in air.",
            "It travels faster in water and faster still in solid materials such as steel.",
            "Sound cannot travel through empty space, because there is nothing there to vibrate.",
            "Fast vibrations make high-pitched sounds, and slow vibrations make low-pitched ones.",
            "Bigger vibrations make louder sounds.",
            "An echo is a sound that bounces off a hard surface and comes back to us.",
            "Soft materials, such as curtains and carpets, absorb sound, which is why furnished rooms sound quieter than empty ones.",
        ],
    },
    "clouds": {
        "title": ["How clouds form", "What clouds are made of", "Reading the clouds"],
        "facts": [
            "Clouds are made of billions of tiny water droplets or ice crystals floating in the air.",
            "Air always contains some invisible water vapour.",
            "When air rises, it expands and cools.",
            "Cool air cannot hold as much water vapour as warm air, so some of the vapour condenses into droplets.",
            "The droplets form around tiny specks of dust, salt or smoke.",
            "Flat, grey layers of cloud are called stratus clouds.",
            "Puffy clouds with flat bases are called cumulus clouds, and they often appear on sunny afternoons.",
            "Thin, wispy clouds high in the sky are called cirrus clouds, and they are made of ice.",
            "Tall, towering clouds called cumulonimbus can bring heavy rain, hail and thunder.",
            "Fog is simply a cloud that forms at ground level.",
        ],
    },
    "earthquakes": {
        "title": ["Why the ground shakes", "Earthquakes explained", "What happens during an earthquake"],
        "facts": [
            "The Earth's outer shell is broken into large pieces called tectonic plates.",
            "The plates move very slowly, usually only a few centimetres a year.",
            "Where plates meet, they can become stuck while pressure builds up.",
            "When the rocks suddenly slip, the stored energy is released as an earthquake.",
            "The energy travels through the ground as seismic waves.",
            "The point on the surface directly above where the slip starts is called the epicentre.",
            "Instruments called seismometers record the shaking.",
            "Most earthquakes are too small for people to feel.",
            "Earthquakes under the sea can sometimes cause large waves called tsunamis.",
            "Buildings designed to flex a little are much safer in earthquakes than rigid ones.",
        ],
    },
}

SCIENCE = {
    "titles": [],  # from the concept
    "intro": [
        "[Readers|A reader] from {town} asked us to explain {concept}, and it turns out to be a [wonderful|lovely] example of [everyday|ordinary] science.",
        "[Most of us|Many of us] [notice|take for granted] {concept} without [ever|often] asking [how it works|why it happens].",
        "[Scientists|Naturalists] have studied {concept} for [centuries|a very long time], and the [basic|main] ideas are [easy to follow|simple enough to explain at the kitchen table].",
        "This [short|brief] explainer [sets out|covers] the [key|main] facts about {concept} in plain words.",
        "{expert}, who [teaches|has taught] science at a school in {town} for {n:8-30} years, [helped us|agreed to help us] explain {concept}.",
    ],
    "sections": [
        "FACTS",
        [
            "[A simple|An easy] experiment at home [can show|shows] [part of|some of] this [clearly|nicely], and [children|young readers] [usually|often] enjoy it.",
            "{expert_first} [likes to start|often starts] lessons on {concept} with a question rather than an answer.",
            "[Diagrams|Simple drawings] help a great deal, so [it is worth sketching|try sketching] the idea on paper as you read.",
            "[Some|A few] of these ideas took scientists [many years|a long time] to [work out|understand] properly.",
            "[Older|Earlier] explanations were [sometimes|often] wrong, but careful observation [slowly|gradually] [corrected|improved] them.",
            "[Measurements|Observations] made by [amateurs|volunteers] still [help|contribute to] [research|science] in this area.",
            '"The [best|most useful] thing [you can do|a student can do] is [look carefully|keep asking why]," {expert_first} [said|told us].',
            "[Understanding|Knowing] the [basic|main] idea makes [the world around us|everyday events] [far|much] more interesting.",
            "If you [want to learn more|are curious], [the local library|a good encyclopedia] [is|will be] a [fine|good] place to [start|begin].",
            "[Good|Careful] scientists [write down|record] what they see [before|rather than] [deciding|guessing] what it means.",
            "[A|One] [pupil|student] in {expert_first}'s class [once|recently] asked a question that [took up most of a lesson|kept the whole class talking for a week].",
        ],
        [
            "[In|At] {expert_first}'s school, [pupils|students] [keep|fill in] a [simple|weekly] [observation diary|nature notebook] through the [year|seasons].",
            "[Models|Simple models] made from [card|paper], [string|torches] and [balls|fruit] [help|let] [children|pupils] [see|picture] ideas that are [hard|difficult] to [imagine|grasp].",
            "[A|The] [school|local] [science club|nature group] in {town} [meets|gathers] [on|every] {weekday} [after school|evening], and [anyone|families] can [join|come along].",
            '[Questions|Puzzles] [that begin|starting] with ["why"|why] are [often|usually] the [hardest|trickiest] to answer and the [most|best] fun to [explore|think about].',
            "Getting things wrong is [a normal|an ordinary] part of science, and {expert_first} [encourages|tells] [pupils|students] [to guess first|not to fear mistakes].",
            "The [best|most memorable] lessons, {expert_first} [says|believes], [happen|take place] [outdoors|outside the classroom], [where|when] [children|pupils] can [see|watch] things for themselves.",
            "[Local|Nearby] [museums|libraries] [sometimes|often] [lend|offer] [kits|boxes of equipment] to schools and [families|clubs] [for free|at no cost].",
            "[Parents|Grandparents] [often|sometimes] [tell|say to] {expert_first} that they [only|finally] understood {concept} [when|after] their children [explained|described] it to them.",
        ],
    ],
    "close": [
        "[Next time|The next time] you [notice|see] {concept} [at work|in action], you will know [what is going on underneath|a little more about it].",
        "[Send|Write in with] your questions, and we will [try to answer|explain] another [everyday|ordinary] [puzzle|mystery] [next month|soon].",
        "[Science|Curiosity] [begins|starts] with [noticing|looking at] ordinary things [carefully|closely], and there is no better place to start than {concept}.",
    ],
}

# ---- sports reports (the goals are narrated from a generated, consistent scoreline) ----------

TEAMS = [
    ("Harwick Rovers", "Mill Lane"),
    ("Stowbridge Athletic", "the Riverside Ground"),
    ("Fennick Town", "Station Park"),
    ("Marrowby United", "the Old Showground"),
    ("Norcott Wanderers", "Kiln Road"),
    ("Quillsby Albion", "Harbour Field"),
    ("Tillingham Swifts", "Chapel Meadow"),
    ("Ashcombe Rangers", "the Recreation Ground"),
    ("Easterbrook Celtic", "Brook Park"),
    ("Wrenford Villa", "Canal Side"),
    ("Duxley Green Colliery", "Pithead Lane"),
    ("Kestrel Bay Mariners", "the Sea Road Ground"),
]

GOAL_TEMPLATES = {
    "opener": [
        "{scorer} opened the scoring for {team} in the {minute} minute with a [low shot|header|curling effort] from [the edge of the area|close range|a tight angle].",
        "{team} took the lead in the {minute} minute when {scorer} [turned in|steered home|swept in] a [low cross|loose ball|pass from the right].",
    ],
    "equaliser": [
        "{team} [drew level|equalised] in the {minute} minute, {scorer} [heading in|finishing] [a corner|a fine cross] to make it {score}.",
        "{scorer} [levelled|brought {team} level] at {score} in the {minute} minute with a [firm|calm] finish.",
    ],
    "lead": [
        "{scorer} put {team} [ahead|in front] at {score} in the {minute} minute [with a firm finish|after a quick break].",
        "In the {minute} minute {scorer} [nudged|edged] {team} [ahead|in front] at {score} [from a rebound|with a low shot].",
    ],
    "extend": [
        "{scorer} [extended|stretched] the lead to {score} in the {minute} minute, [turning|steering] [home|in] a [loose|rebounding] ball.",
        "{team} made it {score} in the {minute} minute through {scorer}, who [finished|scored] [from close range|with a crisp shot].",
    ],
    "pullback": [
        "{team} [pulled one back|reduced the deficit] in the {minute} minute through {scorer} to make it {score}.",
        "{scorer} [gave|offered] {team} hope with a [fine|tidy] finish in the {minute} minute, [making it|and the score was] {score}.",
    ],
}

SPORTS = {
    "titles": [
        "{winner} [beat|defeat|see off] {loser} {ws}-{ls}",
        "{winner} [earn|claim|grind out] [a|another] win against {loser}",
        "Match report: {home} v {away}",
        "[Late pressure lifts|Second-half goals lift] {winner} past {loser}",
    ],
    "intro": [
        "{winner} [earned|claimed|secured] a [deserved|hard-fought|well-earned] {ws}-{ls} win over {loser} at {ground} on {weekday} [afternoon|evening].",
        "A crowd of {n:350-2400} [watched|saw] {home} [host|welcome] {away} in [blustery|mild|cold|bright] conditions at {ground}.",
        "[It was|This was] [a lively|an entertaining|a tense] [game|afternoon] [from start to finish|from the first whistle], and {winner} [just about|fully] deserved the points.",
        "{loser} [arrived|came into the game] [in good form|unbeaten in {w:3-6} matches], but [left|went home] [empty-handed|with nothing to show for their efforts].",
        "[The result|Victory] [lifts|moves] {winner} [up to|into] {ord_pos} place in the [league|table], {w:2-6} points behind the leaders.",
    ],
    "sections": [
        "GOALS",
        [
            "[Midfielder|Captain] {captain} [controlled|dictated] the [tempo|pace] of the game [with calm passing|with simple, tidy passes].",
            "[A|One] [dangerous|promising] [cross|free kick] from the left [flew|drifted] [just wide|over the bar] [midway through the first half|in the opening exchanges].",
            "The [pitch|surface] was [heavy after a week of rain|firm and quick after a dry week], which [suited|favoured] the [passing|direct] game.",
            "For [ten|fifteen] minutes [after the restart|in the second half] the [visitors|home side] [pressed hard|pushed forward], and the [game|contest] [looked|seemed] [finely balanced|open].",
            "[Substitute|Young forward] {sub} [made|had] an immediate impact, [running at|stretching] the [tired|weary] defence.",
            "The referee [booked|showed a yellow card to] {w:2-4} players in a [scrappy|tense|bad-tempered] final [quarter of an hour|twenty minutes].",
            "[Both|The two] goalkeepers [made|produced] [several|a number of] [fine|sharp] saves [to keep the score down|in a busy afternoon].",
            "[Wind|A strong breeze] [blowing|gusting] [across|down] the [ground|pitch] made [long passes|high balls] [a lottery|unpredictable].",
            "{captain_first} [was|proved] [a calming|an inspiring] presence [in midfield|at the back], [winning|collecting] [almost every|nearly every] [header|loose ball].",
            "[Chances|Opportunities] were [few|scarce] [in the early stages|at first], [as|while] both sides [felt|sized] each other out.",
            "[At one point|Late on], [a|one] [stray|wayward] [clearance|shot] sailed over the [stand|fence] and [landed|bounced] in the car park, to [cheers|laughter] from the crowd.",
        ],
        [
            '"[I am pleased with|I am proud of] the [players|whole squad]," said the {winner} manager, {manager}. "[They worked hard|We stuck to the plan] [for ninety minutes|all afternoon]."',
            "The {loser} manager [admitted|accepted] that [the|his] side had [been second best|made too many mistakes] [for long spells|at key moments].",
            "{winner} [travel to|visit] {any_town} next {weekday}, while {loser} [host|welcome] [a side|opponents] from [the division below|a neighbouring town] in the cup.",
            "[Season tickets|Tickets] for the [remaining|next] home games are [available|on sale] from the club shop at {ground}.",
            "[The|A] [youth|junior] [team|squad] [will play|is playing] [a curtain raiser|before the main game] [on the same pitch|next weekend].",
            "[Volunteers|Supporters] [have raised|raised] [money|funds] [for new floodlights|to repair the stand] [over the summer|this year].",
            "[Club officials|The committee] [thanked|praised] the [groundsman|volunteers] for [getting|having] the pitch [ready|playable] after [heavy rain|a frosty night].",
            "[Several|A few] players [are|remain] [doubtful|unlikely to be fit] for the next match with [minor|small] [knocks|injuries].",
            "[Local|Young] [fans|supporters] [waited|queued] [after the final whistle|at the tunnel] [for autographs|to meet the players].",
            "[Proceeds|Money] from the [half-time|matchday] [raffle|collection] will go to the {charity}.",
        ],
        [
            "[This season|So far this season], {winner} have [won|taken points from] [most|several] of their home games.",
            "{loser} [sit|remain] in the [bottom half|middle] of the table [but|and] have [games in hand|a kind run of fixtures] [coming up|ahead].",
            "[The|A] [local|county] [derby|cup tie] [against|with] {any_town} [is|falls] [next month|in {month}] and [is expected to|should] [draw|attract] a [big|large] crowd.",
            "[Attendances|Crowds] at {ground} have [grown|risen] [steadily|each season] [since|after] the [new|improved] [stand|clubhouse] [opened|was finished].",
            "[The|Both] clubs [run|support] [junior|youth] teams, and [several|a number] of [today's|the current] players [came through|started in] them.",
            "[Club|League] officials [are|have been] [raising|collecting] money for [a new|an all-weather] [training pitch|changing room].",
            "[Supporters|Fans] [travelling|heading] to the [next|away] game can [book|reserve] a seat on the supporters' [coach|bus] [at|from] the clubhouse.",
            "[Ticket|Admission] prices [will stay|remain] [the same|unchanged] [for the rest of the season|until the summer], the [club|committee] [confirmed|announced].",
        ],
    ],
    "close": [
        "[The full report and photographs|Full highlights] will appear in [the weekend edition|next week's edition].",
        "[On this form|If they keep this up], {winner} [could|may well] [challenge|push] for promotion [this season|by the spring].",
        "[Kick-off|The next kick-off] at {ground} is [at three o'clock|at half past seven], and [entry|admission] [for under sixteens|for children] is free.",
    ],
}


def sports_goal_sentences(rng: random.Random, b: dict[str, str], people) -> list[str]:
    """Narrate a consistent sequence of goals for the bound scoreline."""
    ws, ls = int(b["ws"]), int(b["ls"])
    while True:
        order = ["W"] * ws + ["L"] * ls
        rng.shuffle(order)
        # the winner must score the last goal that changes who leads; simplest: winner ahead at end
        w = l_ = 0
        for side in order:
            w, l_ = (w + 1, l_) if side == "W" else (w, l_ + 1)
        if w > l_:
            break
    minutes = sorted(rng.sample(range(4, 90), len(order)))
    sents, w, l_ = [], 0, 0
    half_done = False
    for side, minute in zip(order, minutes, strict=True):
        if minute > 45 and not half_done:
            sents.append(_half_time(rng, b, w, l_))
            half_done = True
        before_w, before_l = w, l_
        if side == "W":
            w += 1
            team, mine, theirs = b["winner"], w, l_
        else:
            l_ += 1
            team, mine, theirs = b["loser"], l_, w
        if before_w + before_l == 0:
            kind = "opener"
        elif mine == theirs:
            kind = "equaliser"
        elif mine > theirs and (mine - 1) == theirs and before_w == before_l:
            kind = "lead"
        elif mine > theirs:
            kind = "extend"
        else:
            kind = "pullback"
        score = f"{max(w, l_)}-{min(w, l_)}"
        scorer = people.pop()
        sents.append(
            fill(
                rng.choice(GOAL_TEMPLATES[kind]),
                rng,
                {"scorer": scorer, "team": team, "minute": ordinal(minute), "score": score},
            )
        )
    if not half_done:
        sents.append(_half_time(rng, b, w, l_))
    return sents


def _half_time(rng: random.Random, b: dict[str, str], w: int, l_: int) -> str:
    if w == l_ == 0:
        return rng.choice(
            [
                "The first half ended goalless, with few clear chances for either side.",
                "At half time there was still no score, and both managers had plenty to think about.",
            ]
        )
    if w == l_:
        return f"The teams went in level at {w}-{l_} at half time."
    leader = b["winner"] if w > l_ else b["loser"]
    return f"At half time {leader} led {max(w, l_)}-{min(w, l_)}."


# ---- book reviews ----------------------------------------------------------------------------

BOOK_TITLES = [
    "The Lantern Keeper",
    "A Winter at Gullhaven",
    "The Salt Orchard",
    "The Paper Cartographer",
    "The House on Sorrel Hill",
    "The Last Ferryman",
    "Letters from Lowmoor",
    "The Glass Clockmaker",
    "The Quiet Harbour",
    "A Summer of Small Things",
    "The Weaver's Daughter",
    "The Hollow Bell",
    "The Long Tide",
    "The Archive of Lost Maps",
    "Our Year at the Mill",
    "The Lighthouse Letters",
    "The Orchard Wall",
    "A Map of Quiet Places",
    "The Bridge at Wrenford",
    "The Beekeeper's Notebook",
    "The Night Ferry to Penhallow",
    "Salt and Iron",
    "The Cartwright Sisters",
    "A House Full of Clocks",
    "The Long Road Home",
    "The Keeper of Small Things",
    "Under the Harbour Lights",
    "The Winter Orchard",
    "The Shepherd's Almanac",
    "Letters to a Lighthouse",
]
GENRES = [
    ("mystery novel", "mystery novels", "a missing painting"),
    ("historical novel", "historical novels", "a family feud"),
    ("memoir", "memoirs", "a childhood by the sea"),
    ("fantasy novel", "fantasy novels", "a stolen map"),
    ("collection of short stories", "story collections", "ordinary people in small towns"),
    ("novel for young readers", "children's books", "a secret club"),
    ("detective story", "detective stories", "a locked room"),
    ("family saga", "family sagas", "three generations of a farming family"),
    ("travel memoir", "travel memoirs", "a long walk along the coast"),
    ("comic novel", "comic novels", "a disastrous wedding"),
]

BOOKS = {
    "titles": [
        "Review: {book} by {author}",
        "Book of the [week|month]: {book}",
        "{book}: [a|an] {genre} [worth your time|that lingers|with real heart]",
        "[New|Recent] [fiction|books]: {author}'s {book}",
    ],
    "intro": [
        "{book} is the [third|second|fourth] book by {author}, and it may be the [best|most confident] [yet|so far].",
        "[At first|On the surface], {book} is a [quiet|simple] {genre} about {premise}.",
        "{author} [grew up|lives] near {town}, and [the landscape|that stretch of coast] [runs through|shapes] every [page|chapter] of {book}.",
        "It is [rare|unusual] to find a {genre} that is [both|at once] [gentle|funny] and [gripping|moving], but {book} [manages it|pulls it off].",
        "[Readers|Fans] of {author}'s [earlier|previous] [work|books] will [find|recognise] [much|plenty] to enjoy [here|in {book}].",
    ],
    "sections": [
        [
            "The story follows {hero}, a [young|retired|restless|curious] [teacher|clerk|boat builder|librarian] who [returns|moves] to {setting} [after many years away|at the start of the book].",
            "[Within|In] the first [few chapters|fifty pages], {hero} [stumbles upon|is drawn into] {premise}.",
            "[Without giving too much away|Without spoiling anything], the [plot|story] [turns|twists] [several times|more than once] before the end.",
            "{hero}'s [friendship|uneasy friendship|rivalry] with [an elderly neighbour|a local fisherman|a sharp-tongued shopkeeper] gives the book its [warmth|heart].",
            "The [middle section|second half] [slows down|takes its time], but [patient readers|those who stay with it] are [well rewarded|rewarded].",
            "[Each chapter|Every chapter] [ends|closes] with a [small|quiet] [surprise|revelation], which makes the book [hard to put down|difficult to set aside].",
            "The [setting|town of {setting}] is [drawn|described] [so vividly|with such care] that it [almost becomes|feels like] a character in its own right.",
            "[Flashbacks|Short chapters set in the past] [fill in|reveal] {hero}'s [history|childhood] [a little at a time|piece by piece].",
            "[A|The] [storm|winter flood] [halfway through|in the middle of] the book [brings|forces] the [whole town|characters] together in [unexpected|surprising] ways.",
            "[By the end|In the final chapters], {hero} [has to|must] [choose|decide] between [staying|leaving] and [facing|confronting] [an old|a painful] [secret|memory].",
        ],
        [
            "{author} writes in [short|clear|careful], [plain|unfussy] sentences that [never|rarely] draw attention to themselves.",
            "The [dialogue|conversation] is [sharp|lively] and often [funny|wry], [especially|particularly] [in the scenes|when the characters meet] [at the harbour|in the kitchen].",
            "[Some|A few] readers may find the [pace|opening] [slow|a little slow], [but|yet] the [details|small moments] [are worth|repay] the [patience|attention].",
            "[The minor characters|Even the smallest parts] are [drawn|written] with [real|genuine] [affection|care].",
            "[There are|The book has] [one or two|a couple of] [weaker|less convincing] [moments|chapters], [but|though] they [hardly|do little to] [spoil|weaken] the whole.",
            "[Descriptions of|Passages about] the [weather|sea|changing seasons] [are among the best|stand out as some of the finest] in the book.",
            "[Unlike|In contrast to] many {genre_plural}, {book} [trusts|respects] its readers and [leaves a great deal unsaid|does not explain everything away].",
            "[Humour|Gentle humour] [runs|flows] [through|under] [even|the] [sadder|darkest] [scenes|chapters], [which|and this] [keeps|stops] the book from [feeling heavy|becoming gloomy].",
            "{author} has a [good|fine] ear for the way people [really|actually] talk, [especially|particularly] [older|elderly] characters.",
        ],
        [
            "[At|Across] {n:220-460} pages, {book} is [a comfortable|an easy] [read|length] for a [long weekend|week of evenings].",
            "[It would make|This would be] a [good|fine] choice for a [book club|reading group], since [there is|it leaves] plenty to [discuss|talk about].",
            "[Younger|Older] readers [will|should] [enjoy it|find a lot to like] [just as much|as well].",
            "{book} is [published|out] [this month|now] and [costs|is priced at] {n:9-18} pounds in [paperback|hardback].",
            "[Copies|Signed copies] are [available|on sale] at the [independent bookshop|library shop] in {town}.",
            "[The|An] [audio|audiobook] [version|edition], [read|narrated] by the author, [is|will be] [available|released] [next month|later in the year].",
        ],
        [
            "{author} [worked as|was] a [nurse|teacher|postal worker|ferry pilot] for [many|twenty] years before [turning|coming] to writing.",
            "[Much|Part] of {book} was [written|drafted] [early in the morning|at the kitchen table], [before|around] the [school run|working day].",
            "In [an|a recent] interview, {author} [said|explained] that the [idea|story] [came|grew] from [an old photograph|a conversation overheard on a bus|a half-remembered family story].",
            "{author}'s [first|debut] book [was|had been] [turned down|rejected] by [several|a dozen] publishers before [finding|it found] a home.",
            "[A|The] [new|next] book, [due|expected] [next year|in the autumn], [returns|will return] to {setting} [and|with] [some of|several of] the same characters.",
            "{author} [still|now] [lives|writes] [near|outside] {town}, [with|in] a [small|crowded] house full of [books|dogs and books].",
        ],
    ],
    "close": [
        "[Recommended|Warmly recommended], [especially|above all] for [a quiet evening|long winter evenings].",
        "[However|Whenever] you read it, {book} [stays|lingers] in the mind [long after|well after] the last page.",
        "{author} will [talk about|read from] {book} at the {town} library on {weekday} evening, and [tickets|places] are free.",
        "[Four|Three and a half] stars out of five.",
    ],
}

# ---- personal finance ------------------------------------------------------------------------

GOALS = [
    "an emergency fund",
    "a family holiday",
    "a new bicycle",
    "a house deposit",
    "a second-hand car",
    "a wedding",
    "a new kitchen",
    "driving lessons",
    "a laptop for college",
    "a garden shed",
    "a trip to see relatives",
    "a new boiler",
    "a sofa",
    "a pair of new glasses",
    "a replacement roof",
    "a first flat",
]

FINANCE = {
    "titles": [
        "How {saver_first} saved for {goal}",
        "Saving for {goal} [without|with no] [stress|drama]",
        "[A simple budget|Simple budgeting] [that actually works|for real life]",
        "[Five|Six|Seven] habits that helped {saver_first} [save|put money aside]",
        "[Money|Budget] [matters|notes]: [planning|saving] for {goal}",
    ],
    "intro": [
        "{saver}, a [nurse|bus driver|teacher|shop manager|carpenter] from {town}, wanted to save {amount} pounds for {goal} [within|in] {w:9-24} months.",
        "[Saving|Putting money aside] [can feel|often feels] [impossible|hopeless] when [bills|prices] keep rising, [but|yet] small steps [add up|make a difference].",
        "[Most|Many] [families|households] [have|share] [the same goal|a similar hope]: to feel [in control of|calm about] their money.",
        "This [guide|article] [explains|describes] [a|one] [simple|practical] [approach|method] that [worked|has worked] for [many|a number of] readers.",
        "[Nobody|No one] [needs|has] to be an expert to [manage|handle] money well; [a plan|a little planning] and [patience|steady habits] [matter|count] far more.",
    ],
    "sections": [
        [
            "The first step is to [write down|list] every [regular|monthly] cost, from [rent|the mortgage] to [phone contracts|subscriptions].",
            "{saver_first} [used|kept] a [notebook|simple spreadsheet] and [recorded|noted] every [purchase|payment] for {w:2-3} months.",
            "[That|The] exercise showed that [about|nearly] {n:60-200} pounds a month [went|was going] on [things nobody remembered buying|small unplanned purchases].",
            "[Sorting|Grouping] [spending|costs] into [needs|essentials], [wants|treats] and savings makes the [picture|situation] [much|far] clearer.",
            "[Bank statements|Old receipts] [are|make] a [useful|good] [starting point|place to begin] if you [have not kept|do not have] [records|notes].",
            "[Being|Staying] honest about [where the money goes|your spending] is [uncomfortable|not always pleasant], [but|yet] it is the [foundation|basis] of everything else.",
            "[Couples|Families] [often|usually] find it [helps|useful] to [sit down together|talk it through] [once a month|every few weeks].",
            "[Annual|Yearly] bills, such as [insurance|the car tax|a television licence], are easy to forget, so [divide|split] them into monthly amounts.",
            "[A|One] [quick|simple] [check|test] is to [compare|look at] [what came in|income] and [what went out|spending] over the last {w:3-6} months.",
        ],
        [
            "{saver_first} set up a standing order to move {n:50-300} pounds into a separate savings account on payday.",
            "[Paying yourself first|Saving first], before [other spending|anything else], [means|ensures] the money [is not spent|never gets spent] by accident.",
            "A savings account that pays {n:2-5} per cent interest [will|can] [help|add] a little, [but|though] the [habit|regular saving] matters [more|most].",
            "[Emergency funds|Rainy day funds] [should|ought to] [cover|hold] [about|roughly] {w:3-6} months of essential costs.",
            "[Paying off|Clearing] [expensive|high interest] debt [first|early] [usually|often] [saves|brings] more than [saving|any savings account] [can earn|would earn].",
            "[Compare|Check] [energy|insurance|phone] [deals|prices] [once a year|every year], because [loyalty|staying put] [rarely|seldom] pays.",
            "[Cancelling|Pausing] [one or two|unused] subscriptions [freed up|saved] {n:15-45} pounds a month for {saver_first}.",
            "[Cooking at home|Taking lunch to work] [more often|a few times a week] [made the biggest difference|was the single biggest saving].",
            "[Rounding up|Setting aside the change from] [every purchase|each purchase] [adds|puts] a [surprising|small but steady] amount into savings [each month|over a year].",
            "[Keeping|Holding] the savings in a [separate|different] account [makes it harder to dip into them|makes them less tempting to spend] [by accident|on a whim].",
        ],
        [
            "[Treats|Small pleasures] [still|should still] [have a place|fit] in the budget, [or the plan will not last|otherwise the plan rarely lasts].",
            "Watching the [balance|savings total] grow [each month|month by month] [kept|helped keep] {saver_first} [motivated|going].",
            "[Unexpected|Surprise] [bills|costs] [will|do] [happen|arrive], so it [helps|is wise] to [plan for|expect] [a few|them] [each year|every year].",
            "[If|When] [money is tight|income falls], [talk|speak] to [your bank|the lender] [early|sooner rather than later], because [help|options] [may be|are often] available.",
            "[Free|Independent] [advice services|money advice charities] [can|will] [go through your figures|help with a budget] [with you|at no cost].",
            "{saver_first} [reached|hit] the target [a month early|on time|two months early], [and|then] [kept|carried on] saving [out of habit|anyway].",
            "[Celebrating|Marking] [each|every] [milestone|small milestone] with [a cheap treat|a walk and a picnic] made the [plan|whole thing] feel [less of a chore|worthwhile].",
            "[Reviewing|Looking over] the budget [every|each] [spring|January] [catches|spots] [changes|new costs] before they [become|turn into] [problems|a worry].",
        ],
        [
            "[One|A] [common|frequent] mistake is [setting|choosing] a [target|goal] so [ambitious|strict] that it [feels|becomes] [impossible|miserable] [within|after] a [month|few weeks].",
            "[Another|A second] [trap|mistake] is [forgetting|ignoring] [small|regular] [payments|subscriptions] that [renew|come round] [quietly|automatically].",
            "[Borrowing|Using a credit card] to [cover|pay for] [everyday|regular] [costs|shopping] [can|will] [quickly|soon] [become|turn into] [expensive|a problem].",
            "[Comparing yourself|Keeping up] with [friends|neighbours] [rarely|seldom] helps, [because|since] [every|each] household's [situation is|costs are] different.",
            "[Offers|Deals] that [sound|seem] too good to be true [usually|generally] are, [so|and] it is wise to [wait a day|sleep on it] before [signing|agreeing to] anything.",
            "{saver_first} [admits|says] that the [first|early] [months|attempts] [went|were] [badly|poorly], [and that|but] [starting again|trying again] was [the|a] [key|turning point].",
        ],
    ],
    "close": [
        "[Saving|Budgeting] is [rarely|not] [glamorous|exciting], [but|yet] [the peace of mind|the sense of security] is [worth it|priceless].",
        "[Start|Begin] with [one|a single] [small|simple] change this [week|month], and [build|add more] from there.",
        "[Next month|In the next issue], we [look at|explore] [how to|ways to] [cut|reduce] [household|energy] [bills|costs].",
    ],
}

# ---- how-to (one article per task; the steps are real advice) --------------------------------
HOWTO_TASKS = {
    "fix a dripping tap": [
        "Turn off the water supply to the tap, using the isolating valve under the sink or the main stopcock.",
        "Open the tap to let out any water left in the pipe.",
        "Put the plug in the sink so that small parts cannot fall down the drain.",
        "Remove the decorative cap on the handle and undo the screw underneath.",
        "Lift off the handle and use a spanner to loosen the valve inside.",
        "Older taps have a rubber washer at the bottom of the valve, and a worn washer is the most common cause of a drip.",
        "Take the old washer to a hardware shop to find a replacement of the same size.",
        "Fit the new washer, put the valve and handle back, and turn the water on slowly.",
    ],
    "paint a bedroom wall": [
        "Move furniture away from the wall and cover the floor with dust sheets.",
        "Fill small holes and cracks with filler and let it dry.",
        "Sand the filled areas smooth and wipe the wall with a damp cloth to remove dust.",
        "Use masking tape to protect skirting boards, light switches and window frames.",
        "Paint the edges and corners first with a small brush, which is called cutting in.",
        "Use a roller for the large areas, working in overlapping strips from top to bottom.",
        "Most walls need two coats, and the first coat should be completely dry before you start the second.",
        "Remove the tape while the last coat is still slightly soft, so that the edge stays neat.",
    ],
    "hang a shelf": [
        "Decide where the shelf will go and check the wall for hidden pipes and cables with a detector.",
        "Hold the bracket against the wall and mark the screw holes with a pencil.",
        "Use a spirit level to make sure the marks for the second bracket are level with the first.",
        "Drill the holes with a bit that matches the wall plugs you are using.",
        "Push the wall plugs into the holes until they sit flush with the wall.",
        "Screw the brackets firmly into place.",
        "Rest the shelf on the brackets and fix it from underneath with short screws.",
        "Do not overload the shelf, and check the weight limit of the brackets before filling it with heavy books.",
    ],
    "unblock a kitchen sink": [
        "Scoop out any standing water and food scraps from the sink.",
        "Pour a kettle of hot, but not boiling, water slowly down the drain.",
        "Cover the overflow with a damp cloth and use a plunger with firm, steady pushes.",
        "If that does not work, place a bucket under the trap, which is the curved pipe beneath the sink.",
        "Unscrew the trap by hand and empty it into the bucket.",
        "Clean the trap with an old brush and fit it back, making sure the seals sit properly.",
        "Run the tap for a minute and check underneath for leaks.",
        "To prevent blockages, never pour cooking fat down the sink, and use a strainer to catch food.",
    ],
    "repair a bicycle puncture": [
        "Turn the bicycle upside down or hang it on a stand, and remove the wheel.",
        "Let out any remaining air and use tyre levers to ease one side of the tyre off the rim.",
        "Pull out the inner tube and pump in a little air to find the hole.",
        "Listen for a hiss, or pass the tube through a bowl of water and watch for bubbles.",
        "Mark the hole, dry the tube and roughen the area gently with sandpaper.",
        "Apply a thin layer of glue, wait until it turns tacky, and press the patch down firmly.",
        "Run your fingers carefully around the inside of the tyre to find and remove whatever caused the puncture.",
        "Refit the tube and tyre, pump it up to the pressure printed on the tyre wall, and refit the wheel.",
    ],
    "bleed a radiator": [
        "Turn the heating off and let the radiators cool down completely.",
        "Find the small valve at the top corner of the radiator.",
        "Hold a cloth under the valve to catch any drips.",
        "Use a radiator key to turn the valve a quarter turn anticlockwise.",
        "You will hear a hiss as trapped air escapes.",
        "When water starts to come out steadily, close the valve again.",
        "Check the pressure gauge on the boiler, because bleeding radiators can lower the pressure.",
        "Turn the heating back on and check that the radiator now warms evenly from top to bottom.",
    ],
    "sharpen a kitchen knife": [
        "Soak a whetstone in water for about ten minutes if it is the kind that needs soaking.",
        "Place the stone on a damp cloth so that it cannot slide around.",
        "Hold the knife at a shallow angle of about fifteen to twenty degrees against the stone.",
        "Push the blade across the stone from heel to tip, as if slicing a thin layer off the top.",
        "Repeat about ten times on one side, then the same number on the other side.",
        "Move to the finer side of the stone and repeat with lighter strokes.",
        "Rinse and dry the knife carefully.",
        "Test the edge on a sheet of paper, which a sharp knife should slice cleanly.",
    ],
    "plant a young tree": [
        "Plant bare-root trees between late autumn and early spring, while they are dormant.",
        "Dig a square hole about three times as wide as the roots but no deeper than the root system.",
        "Loosen the soil at the sides of the hole with a fork so that roots can spread.",
        "Set the tree in the hole so that the old soil mark on the stem is level with the ground.",
        "Fill in around the roots with the soil you removed, firming it gently with your foot.",
        "Drive a short stake in at an angle and tie the tree to it with a soft, adjustable tie.",
        "Water the tree thoroughly, even if the ground seems damp.",
        "Keep a circle of bare soil around the trunk for the first few years, so that grass does not compete for water.",
    ],
    "descale a kettle": [
        "Fill the kettle about halfway with a mixture of equal parts water and white vinegar.",
        "Bring the mixture to the boil and then switch the kettle off.",
        "Leave it to stand for about an hour so that the vinegar can dissolve the limescale.",
        "Pour the mixture away and scrub any stubborn patches with a soft brush.",
        "Rinse the kettle several times with clean water.",
        "Boil a full kettle of fresh water and pour it away to remove any taste of vinegar.",
        "Lemon juice works too and leaves a fresher smell.",
        "In hard water areas, descaling once a month keeps the kettle working efficiently.",
    ],
    "re-pot a house plant": [
        "Water the plant a day before re-potting, because moist roots slide out of a pot more easily.",
        "Choose a new pot only a few centimetres wider than the old one, with holes in the bottom.",
        "Put a layer of fresh compost in the bottom of the new pot.",
        "Turn the old pot on its side and ease the plant out, supporting the base of the stems.",
        "Gently tease out roots that are circling the root ball.",
        "Set the plant in the new pot at the same depth as before.",
        "Fill the gaps with compost and firm it lightly with your fingers.",
        "Water well and keep the plant out of strong sunlight for a few days while it settles.",
    ],
    "clean a cast iron pan": [
        "Clean the pan while it is still warm, but not hot enough to burn your hand.",
        "Wipe out any fat with a paper towel.",
        "Scrub with hot water and a stiff brush, using only a little soap if needed.",
        "For stuck-on food, scrub with a spoonful of coarse salt and a little water.",
        "Never leave the pan to soak, because standing water causes rust.",
        "Dry the pan straight away with a towel, then warm it on the hob for a minute to drive off the last moisture.",
        "Rub a very thin layer of cooking oil over the inside with a paper towel.",
        "Store the pan in a dry place, and it will slowly build a smooth, natural non-stick surface.",
    ],
    "fix a squeaky door": [
        "Open and close the door slowly to find out which hinge is squeaking.",
        "Close the door and tap the hinge pin upwards with a hammer and a screwdriver.",
        "Pull the pin out once it is loose enough, keeping the door closed so it stays supported.",
        "Wipe the pin clean with a cloth and remove any rust with fine wire wool.",
        "Coat the pin lightly with petroleum jelly or a little light oil.",
        "Slide the pin back into the hinge and tap it down gently.",
        "Swing the door several times to spread the lubricant through the hinge.",
        "Wipe away any drips so that they do not mark the door or the floor.",
    ],
}

HOWTO = {
    "titles": [
        "How to {task}",
        "How to {task} [in an afternoon|in under an hour|without calling anyone]",
        "[A beginner's guide|The simple way]: how to {task}",
        "Weekend [jobs|projects]: how to {task}",
    ],
    "intro": [
        "[Learning|Knowing] how to {task} [saves|can save] [money|time] and [the wait|a long wait] for a [tradesperson|professional].",
        "{fixer}, who [runs|teaches] [repair workshops|evening classes] in {town}, [says|insists] that [anyone|almost anyone] can {task} with [a few|basic] tools.",
        "[This|The] [step-by-step|simple] guide [explains|shows] how to {task}, [with tips|along with advice] from people who do it [every week|for a living].",
        "[Many|Most] [people|households] [put off|avoid] jobs like this, [but|yet] [it is|this one is] [easier|quicker] than it looks.",
    ],
    "sections": [
        [
            "Before you start, [gather|collect] everything you need so that you do not have to stop [halfway|in the middle].",
            "[Work|Try to work] in good light, and [give yourself|allow] more time than you think you will need.",
            "[If|Where] [you are|anyone is] unsure, it is [always|perfectly] [fine|sensible] to [ask for help|call in a professional].",
            "[Old clothes|Work gloves] and a [tidy|clear] [workspace|floor] make the job [safer|more pleasant].",
            "{fixer_first} [keeps|recommends keeping] a [small|basic] tool kit with a screwdriver set, pliers, a tape measure and a spirit level.",
            "Read through all the steps [once|first] before [picking up a tool|starting], so that [nothing comes as a surprise|no step catches you out].",
            "[Borrowing tools from neighbours|Using a tool library] saves money on [jobs|tasks] you only do [once a year|rarely].",
            "Eye protection [costs very little|is cheap] and [is worth wearing|should be worn] whenever [dust|anything] [might|could] fly.",
        ],
        "STEPS",
        [
            "[Take|Snap] a photo [before|as] you [take anything apart|start], so that you [remember|know] how it [goes back together|fits together].",
            "[Keep|Put] small [screws|parts] in a [cup|saucer] so that they [do not roll away|are not lost].",
            "If something does not move, [do not force it|stop and look again]; [a|the] [hidden|second] [screw|clip] is usually the reason.",
            "[Clean up|Tidy away] [as you go|when you finish], and [check|test] [your work|the result] the next day as well.",
            '"[Most|Nearly all] [repairs|jobs] are [ninety per cent preparation|more about patience than skill]," {fixer_first} [said|told us].',
            "After you have done it once, the job [takes|will take] [half as long|far less time] the next time.",
            "[Keep|Save] the [instructions|receipts] [for|from] [any|new] [parts|tools] in a [folder|drawer], [because|since] you [may|might] need them [again|later].",
            "[Spare|Leftover] [parts|screws] [are worth keeping|should be kept] in a [labelled|marked] [jar|box] [for the next job|for next time].",
        ],
        [
            "{fixer_first}'s [workshops|classes] [began|started] [in|at] the {town} library [about|some] {w:3-9} years ago with [just|only] {w:4-8} [people|regulars].",
            "[Now|Today] [dozens|more than thirty] [people|residents] [come|bring] [broken|worn out] [lamps|chairs|bicycles] [every month|to each session].",
            "[Many|Most] [visitors|people] [arrive|come] [expecting|hoping] someone else will [fix|mend] their [things|belongings], and [leave|go home] [having done it themselves|with a new skill].",
            '"[Repairing|Fixing] [things|something] [yourself|with your own hands] [is|feels] [deeply|hugely] [satisfying|rewarding]," {fixer_first} [said|explained].',
            "[Volunteers|Helpers] [include|range from] [retired|former] [engineers|electricians] [to|and] [students|teenagers] [learning|picking up] their first skills.",
            "[Every|Each] [item|thing] [mended|repaired] is one [less|fewer] [thing|item] [thrown away|sent to landfill], which [matters|counts] to [many|most] [of the regulars|people who come].",
        ],
    ],
    "close": [
        "[With|After] [a little|some] practice, you [will|can] {task} [in no time|without a second thought].",
        "The {town} repair café [meets|opens] on the last {weekday} of the month, and volunteers [will|can] [help|show you how].",
        "[Got|Have] a [question|job] you would like us to [cover|explain]? [Let us know|Write to us] and we will [try|do our best] to help.",
    ],
}

# ---- weather ---------------------------------------------------------------------------------

WEATHER_EVENTS = {
    "storm": [
        "A deep area of low pressure [will move|is expected to move] [in from the west|across the region] [on|by] {weekday}.",
        "Gusts of {n:60-95} kilometres an hour are [likely|expected] [along the coast|on high ground], with [stronger|more severe] gusts [possible|in exposed places].",
        "[Heavy|Persistent] rain [may|could] [bring|cause] [flooding|surface water] on [low-lying|some] roads.",
        "[Secure|Tie down] garden furniture and [bins|trampolines] [before the wind picks up|ahead of the storm].",
        "Ferry [crossings|services] from {town} [may be|could be] [delayed|cancelled], so [check|confirm] before you travel.",
        "[Trees|Branches] [weakened|loosened] by [the autumn|earlier] [storms|gales] [could|may] [fall|come down], [especially|particularly] in [parks|woodland].",
    ],
    "heat": [
        "[Temperatures|Daytime temperatures] are [expected|forecast] to [reach|climb to] {n:27-33} degrees [by|on] {weekday}.",
        "[Nights|Evenings] will stay [warm|muggy], with [temperatures|the thermometer] [not dropping|rarely falling] below {n:16-20} degrees.",
        "[Drink|Carry] plenty of water, and [keep|stay] [out of the sun|in the shade] [during the hottest part of the day|between eleven and three].",
        "[Check on|Look in on] [older|elderly] neighbours, [who|because they] [can|may] [struggle|suffer] [in the heat|in hot weather].",
        "Never leave [pets|dogs] or children in a parked car, even [for a few minutes|briefly].",
        "[Close|Draw] curtains on [sunny|south-facing] windows during the day to [keep rooms cooler|keep the heat out].",
    ],
    "frost": [
        "[Clear|Cloudless] skies [overnight|after dark] will [let|allow] temperatures [fall|drop] to minus {w:2-6} degrees [in rural areas|away from towns].",
        "[Widespread|Hard] frost is [likely|expected] [by dawn|early on] {weekday}, with [icy|slippery] patches on [untreated|minor] roads.",
        "[Allow|Leave] [extra|ten more] minutes to [clear|de-ice] [car windows|windscreens] [before setting off|in the morning].",
        "[Gardeners|Growers] should [cover|protect] [tender|young] plants with fleece or bring [pots|them] indoors.",
        "[Fog|Freezing fog] may [form|linger] in [valleys|sheltered spots] and [clear|lift] only [slowly|late in the morning].",
        "[Afternoons|Days] will be [bright|crisp] and [sunny|clear], [but|though] [temperatures|the air] will [struggle|barely manage] to [rise|climb] above {w:3-6} degrees.",
    ],
    "rain": [
        "[Bands|Spells] of [rain|showery rain] will [cross|sweep across] the area [through the week|on most days].",
        "[Up to|Around] {n:20-45} millimetres of rain [could|may] fall [on the hills|in some places] [by|before] {weekday}.",
        "[Rivers|Streams] [including|such as] {river} [are|will be] [running high|rising], and [riverside|towpath] paths may flood.",
        "[Between|In between] the showers there will be [bright|sunny] [spells|intervals], [and|with] [perhaps|possibly] a [rainbow|rainbow or two].",
        "[Drivers|Road users] should [slow down|leave more space] [on wet roads|in heavy rain], [as|because] stopping distances [double|grow much longer].",
        "The [wet|damp] [spell|weather] [is good news|will please] [gardeners|farmers] after a [dry|very dry] [month|spring].",
    ],
    "fog": [
        "[Thick|Dense] fog [formed|developed] [overnight|late on] {weekday} and [lingered|stayed] [well into|until late in] the morning.",
        "[Visibility|The view] [fell|dropped] to [less than|under] {n:50-150} metres [in places|on some roads].",
        "[Drivers|Motorists] should use [dipped headlights|fog lights] and [keep|leave] [a|a long] [safe distance|gap] behind the car in front.",
        "Fog [forms|develops] when [moist|damp] air [cools|is cooled] [overnight|on a clear night] and [the water vapour|its moisture] [condenses|turns into tiny droplets].",
        "[Flights|Ferries] [from|out of] {town} [were|may be] [delayed|held up] [until|while] the fog [cleared|lifted].",
        "[By|Towards] [the afternoon|midday], [a light breeze|the sun] [should|will] [clear|break up] [most of|the last of] the fog.",
    ],
}

WEATHER = {
    "titles": [
        "[Weather|Forecast]: {event_title} for {town} [this week|over the weekend]",
        "{event_title} [on the way|expected] [across the region|for {town} and nearby]",
        "[Your|The] [week ahead|weekend forecast] for {town}",
        "What the {event_word} [means|will mean] for {town}",
    ],
    "intro": [
        "{event_intro}",
        "[Forecasters expect|The weather service expects] that {town} [and the surrounding area|and nearby villages] [will see|should prepare for] {event_title_lower} [this week|in the coming days].",
        "{forecaster}, [our|the] [local|regional] [weather presenter|forecaster], [said|explained] that [conditions|the pattern] [should|will] [settle|change] [again|by the weekend].",
        "[After|Following] a [mixed|changeable|quiet] [week|spell], the weather in {town} [is about to|looks set to] [turn|change].",
    ],
    "sections": [
        "EVENT",
        [
            "[On|By] {weekday}, [conditions|things] [should|will] [improve|ease], [with|bringing] [lighter winds|drier air|more sunshine].",
            "[The weekend looks|Saturday and Sunday look] [brighter|more settled], [although|though] [a few|some] showers [are possible|cannot be ruled out].",
            "[Temperatures|Daytime highs] [will be|should be] [close to|around] [normal|average] for {month}.",
            "[Winds|The wind] will [ease|drop] [gradually|slowly], [turning|becoming] [light|gentle] [by|on] {weekday2}.",
            "[A|The] [longer|extended] [outlook|forecast] [suggests|points to] [a|another] [mixed|changeable] [week|spell] [ahead|to follow].",
            "{forecaster_first} [advised|reminded] [readers|residents] to [check|look at] the [latest|updated] forecast [before|ahead of] [making plans|travelling].",
            "[Sunrise|Sunset] [times|hours] are [changing|shifting] [quickly|by a few minutes each day] at this time of year, [so|and] [walkers|cyclists] should [carry|take] a light.",
            "[Air|Atmospheric] pressure [is|has been] [rising|climbing] [slowly|steadily], [which|and this] [usually|often] [means|brings] [calmer|more settled] weather.",
        ],
        [
            "[Records|Figures] [kept|gathered] at the {town} weather station [since|from] {y:1890-1960} [show|suggest] that [weeks|spells] like this [happen|come round] [every few years|now and then].",
            "A volunteer [reads|checks] the [rain gauge|thermometers] [every morning|at nine each morning] and [sends|shares] the readings [to|with] a national network.",
            "[Farmers|Growers] [near|around] {town} [watch|follow] the forecast [closely|carefully] [at this time of year|in {month}].",
            "[Schools|Parents] [will be|are] [told|informed] [early|first thing] if [any|a] [closure|change] [is needed|becomes necessary].",
            "[The|Our] [weather|rainfall] [diary|records] for {month} will [appear|be published] [at the end of the month|in the next edition].",
            "The [wettest|windiest] {month} [on record|ever recorded] in {town} was in {y:1900-1990}, when [the river burst its banks|boats were needed in the high street].",
            "[Older|Long-standing] residents [still|often] [talk|speak] about the [great|terrible] [snow|storm] of {y:1947-1987}, when [the town was cut off|roads were closed] for [days|a week].",
        ],
        [
            "[Keep|Carry] a [torch|small torch], [spare batteries|a charged phone] and [a warm layer|a blanket] [in the car|at home] [during|through] [unsettled|changeable] weather.",
            "[Check on|Look in on] [older|elderly] neighbours [during|in] [spells|periods] of [extreme|unusual] weather, and make sure they have [what they need|food and warmth].",
            "[Garden|Outdoor] [furniture|pots] [should|can] be [moved|brought] [indoors|into shelter] [if|when] [strong winds are|a storm is] [forecast|expected].",
            "[Drivers|Motorists] should [slow down|take extra care] and leave more space [in poor conditions|when visibility is low].",
            "[Pets|Animals] [need|should have] [shelter|shade] and [fresh|clean] water [whatever|in all] [the weather|weathers].",
            "[Local|Official] [warnings|alerts] [are|will be] [posted|published] [online|on the council noticeboard] and [read out|announced] on [local radio|the radio].",
        ],
        [
            "[Birds|Garden birds] [visit|use] [feeders|bird tables] [more often|more busily] [in|during] [cold|unsettled] weather, so [keep|fill] them [topped up|full].",
            "[Hedgehogs|Frogs] and [other small animals|insects] [look for|seek] [shelter|cover] in [log piles|leaf heaps] [when|as] the weather [turns|changes].",
            "[Trees|Hedges] [around|near] {town} [are showing|show] [the first signs of|signs of] {season}, [from|with] [buds|berries] [to|and] [changing|turning] leaves.",
            "[Walkers|Ramblers] [reported|noticed] [the|a] [first|early] [swallows|geese] [over|above] {river} [this week|in the last few days].",
            "[Gardeners|Growers] [should|might] [wait|hold off] [a few days|until the ground dries] before [digging|sowing] [in|on] [wet|heavy] soil.",
            "[Photographers|Early risers] have been [rewarded|treated] with [fine|striking] [sunrises|skies] [over|above] the [hills|bay].",
            "[A|The] [local|town] [nature|wildlife] group [keeps|records] [sightings|notes] of [the first|seasonal] [flowers|birds] [each year|every spring] and [welcomes|invites] [contributions|reports] from readers.",
        ],
    ],
    "close": [
        "[Stay safe|Take care], and [keep an eye on|check] the [forecast|latest updates] [before you head out|if you are travelling].",
        "[Our|The] next [forecast|update] [will|is due to] [appear|be published] on {weekday2} [morning|evening].",
        "[Photographs|Pictures] of the weather [sent in|shared] by readers [may|will] [appear|be printed] in [the weekend edition|next week's paper].",
    ],
}

# ---- pets ------------------------------------------------------------------------------------

PETS = {
    "dog": [
        "Dogs need daily walks, and most breeds need at least an hour of exercise a day.",
        "A dog should always have fresh water available.",
        "Chocolate, grapes and onions are harmful to dogs and should never be given as treats.",
        "Short, regular training sessions work better than long ones, and rewards work better than punishment.",
        "Most dogs enjoy company and can become unhappy if they are left alone for long periods.",
        "Puppies need to meet many people, sounds and other animals while they are young, so that they grow up confident.",
    ],
    "cat": [
        "Cats spend a large part of the day asleep, often twelve hours or more.",
        "Cats are meat eaters and need a diet that contains animal protein.",
        "Scratching is natural for cats, and a sturdy scratching post protects the furniture.",
        "Many cats prefer to drink from a wide bowl or a small fountain placed away from their food.",
        "Cats clean themselves carefully, but long-haired cats still need regular brushing.",
        "Indoor cats need toys and climbing places to stay active and content.",
    ],
    "rabbit": [
        "Rabbits are social animals and are happiest living with another rabbit.",
        "Hay should make up most of a rabbit's diet, because it keeps their teeth and stomach healthy.",
        "A rabbit's teeth never stop growing.",
        "Rabbits need much more space than a small hutch, including room to run, jump and stand up.",
        "Rabbits can live for ten years or more, so they are a long commitment.",
        "Fresh leafy greens can be offered every day, but sugary fruit should only be an occasional treat.",
    ],
    "guinea pig": [
        "Guinea pigs are social animals and should be kept in pairs or small groups.",
        "Unlike most animals, guinea pigs cannot make their own vitamin C, so they need it from fresh vegetables.",
        "Guinea pigs need a constant supply of good hay.",
        "Their teeth grow all the time and are kept short by chewing.",
        "Guinea pigs often make a squeaking sound called wheeking when they expect food.",
        "They need a warm, dry home that is protected from draughts.",
    ],
    "budgie": [
        "Budgies are small parrots that come from Australia.",
        "They are sociable birds and are happiest with another budgie for company.",
        "A budgie's cage should be wide enough for the bird to fly from one side to the other.",
        "Seed alone is not a balanced diet, so budgies also need fresh vegetables.",
        "Budgies enjoy toys, mirrors and perches of different thicknesses.",
        "With patience, many budgies learn to perch on a finger and some learn to copy words.",
    ],
    "tortoise": [
        "Many tortoises can live for more than fifty years, so they may outlive their first owners.",
        "Tortoises need warmth and ultraviolet light to stay healthy, especially when kept indoors.",
        "Most pet tortoises eat mainly leafy weeds and flowers, such as dandelions.",
        "Some tortoises hibernate in winter, and they must be healthy and well fed before they do.",
        "A tortoise needs a secure garden area, because tortoises are surprisingly good at escaping.",
        "Shallow water for soaking helps a tortoise stay hydrated.",
    ],
    "hamster": [
        "Hamsters are most active in the evening and at night.",
        "Syrian hamsters live alone and can fight if kept together.",
        "A hamster needs a large cage with deep bedding, because hamsters love to burrow.",
        "A solid exercise wheel of the right size is important for a hamster's health.",
        "Hamsters store food in their cheek pouches and carry it back to their nests.",
        "Most hamsters live for about two to three years.",
    ],
    "goldfish": [
        "Goldfish need much more space than a small bowl, and a proper tank with a filter is best.",
        "Goldfish produce a lot of waste, so the water needs regular partial changes.",
        "Tap water should be treated with a water conditioner before it goes into the tank.",
        "Goldfish can live for more than ten years when they are well cared for.",
        "Overfeeding is a common mistake, and uneaten food makes the water dirty.",
        "Goldfish are social and do well with other goldfish of a similar size.",
    ],
}
PET_NAMES = [
    "Biscuit",
    "Pepper",
    "Maple",
    "Juniper",
    "Pickle",
    "Clover",
    "Bramble",
    "Nutmeg",
    "Willow",
    "Pebble",
    "Sorrel",
    "Toffee",
    "Hazel",
    "Rocket",
    "Mabel",
    "Ziggy",
    "Olive",
    "Barley",
    "Sprout",
    "Fudge",
]

PETS_TOPIC = {
    "titles": [
        "Caring for [a|your] {pet}: [what|the things] {owner_first} [learned|wishes they had known]",
        "[Living|Life] with {pet_name} the {pet}",
        "[A beginner's guide to|First steps with] [a|your] [new|first] {pet}",
        "[Is a {pet} right for your family?|Should you get a {pet}?]",
    ],
    "intro": [
        "When {owner} brought {pet_name} the {pet} home to {town} [last spring|two years ago|in {month}], [nobody|no one] in the family knew [much|very much] about {pet_plural}.",
        "[Thinking about|Considering] [a|getting a] {pet}? [It is|That is] a [wonderful|rewarding] [decision|choice], but [it needs|one that deserves] [careful|some] thought first.",
        "{pet_plural_cap} [make|can make] [wonderful|delightful] companions, [as long as|provided] their [needs|basic needs] are [understood|met].",
        "{vet}, a [vet|veterinary nurse] in {town}, [answers|has answered] [readers'|your] questions about {pet_plural} [this week|in this guide].",
    ],
    "sections": [
        "PETFACTS",
        [
            "{pet_name} [settled in|found their feet] [within|after] {w:2-5} [days|weeks], [helped by|thanks to] a [quiet|calm] [routine|home].",
            "[A regular|A fixed] [routine|daily routine] for [feeding|meals] and [play|exercise] helps [a|any] {pet} feel [safe|secure].",
            "[Register|Sign up] with a [local|nearby] vet [early|straight away], [before|rather than waiting until] something goes wrong.",
            "[Pet insurance|Saving a little each month] can [help|soften the blow] [if|when] [vet bills|unexpected bills] arrive.",
            "[Children|Younger family members] should [learn|be shown] how to [handle|hold] a {pet} [gently|calmly] and when to leave it alone.",
            "[Rescue centres|Animal shelters] [near|around] {town} [often|usually] [have|look after] {pet_plural} [looking for|waiting for] new homes.",
            "{owner_first} keeps [a small notebook|a simple diary] [about|of] {pet_name}'s [meals|health|weight], which [the vet|their vet] [found|finds] [very useful|helpful].",
            "[Changes|Sudden changes] in [appetite|eating] or [behaviour|habits] [are|can be] an early sign that something is wrong.",
            '"[Every|Each] {pet} has [its own|a different] [character|personality]," {vet_first} [said|explained], "[so|and] [get to know|watch] yours [closely|carefully]."',
            "[Holidays need|Time away needs] [planning|some planning], [because|since] [a|your] {pet} will need [a trusted sitter|someone reliable] to [look after|care for] it.",
            "Keeping {pet_name}'s [home|bedding] clean [every day|each week] [prevents|stops] [smells|illness] and [keeps|makes] the house [pleasant|healthier] for everyone.",
        ],
        [
            "Before bringing a {pet} home, think about how much [time|space] and money your household can [give|spare] [every week|each year].",
            "[Meeting|Visiting] [the animal|a few animals] [more than once|several times] [before deciding|first] [helps|makes] [families|people] [choose|pick] [well|wisely].",
            "[Costs|Bills] for [food|bedding], [vet visits|injections] and [equipment|toys] [add up|mount up] [quickly|faster than expected] in the first year.",
            "[Older|Adult] animals are [often|frequently] [calmer|easier] than [babies|young ones] and [make|can make] [ideal|excellent] first pets.",
            "{vet_first} [suggests|recommends] [writing|drawing up] a [simple|short] [list|rota] of [jobs|tasks] so that [everyone|every member of the family] [helps|does their share].",
            "Ask [the|a] [rescue centre|breeder|shelter] about the [animal's|pet's] [history|health records] and [any|particular] [needs|habits].",
            "[Some|Many] [landlords|rental agreements] [limit|do not allow] pets, so [check|read] the [rules|small print] [before|first].",
        ],
        [
            "{pet_name}'s day [starts|begins] [early|at seven], [when|as soon as] [the first footsteps are|a voice is] heard in the kitchen.",
            "[Breakfast|Feeding time] is [followed|usually followed] by [a quiet hour|a nap|some play] [in|near] [a favourite|the sunniest] spot [by the window|in the garden].",
            "[The children|{owner_first}'s children] [take turns|share the jobs] [feeding|cleaning out] {pet_name} [before school|at weekends], [which|and this] [has taught|teaches] them [responsibility|patience].",
            "[Visitors|Guests] [are|were] [greeted|inspected] [with curiosity|with interest] by {pet_name}, who [now|soon] [has|had] [favourites|a few favourites] among the [neighbours|family friends].",
            "[Evenings|Quiet evenings] [are|tend to be] {pet_name}'s [favourite|best] time, [when|as] the [house|household] [settles|calms down].",
            "[Looking after|Caring for] {pet_name} has [changed|shaped] the [family's|household's] [routine|days] [more than|in more ways than] [anyone|they] expected.",
            "{owner_first} [admits|says] that [the first|those first] [weeks|days] were [chaotic|tiring], [but|yet] [nobody|no one] [could|would] [imagine|picture] the house without {pet_name} [now|today].",
        ],
    ],
    "close": [
        "[With|Given] [time|patience] and [care|attention], {pet_name} has become [part of the family|a much loved member of the household].",
        "[Caring for|Looking after] a {pet} is [hard work|a responsibility], [but|and] [the rewards are|the companionship is] worth [it|every minute].",
        "[Next week|In the next issue], {vet_first} [answers|will answer] [more|further] [questions|letters] about [pets|animal care].",
    ],
}

# ---- community news --------------------------------------------------------------------------

EVENTS = [
    ("summer fair", "the village green"),
    ("book sale", "the library hall"),
    ("charity fun run", "the riverside park"),
    ("farmers market", "the market square"),
    ("choir concert", "St Aldwyn's church"),
    ("plant swap", "the community garden"),
    ("quiz night", "the Anchor Inn"),
    ("craft fair", "the town hall"),
    ("litter pick", "the beach car park"),
    ("open gardens weekend", "the allotments"),
    ("repair café", "the scout hut"),
    ("harvest supper", "the church hall"),
    ("dog show", "the cricket field"),
    ("film night", "the old cinema"),
    ("bike safety day", "the primary school"),
    ("history walk", "the clock tower"),
]

COMMUNITY = {
    "titles": [
        "The {town} {event} [returns|is back] [this|next] {weekday}",
        "[Volunteers|Helpers] [needed|wanted] for the {event}",
        "[Everything you need to know about|A guide to] the {town} {event}",
        "[All set|Plans in place] for the {town} {event}",
    ],
    "intro": [
        "The {town} {event} [returns|will return] to {venue} on {weekday} {date}, [from|starting at] {n:9-11} o'clock.",
        "[Last year|Last time], [more than|over] {n:150-900} people [came to|visited] the {event} at {venue}, [the largest crowd|more than ever] [in years|since it began].",
        "[Organisers|Volunteers] of the {event} [say|hope] that this year's [event|edition] will be [the best yet|bigger than ever].",
        "{organiser}, who has [organised|run] the {event} for {w:3-15} years, [says|insists] that [it|the day] [belongs|is owed] to the whole [town|community].",
    ],
    "sections": [
        [
            "[Stalls|Tables] [will sell|will offer] [homemade cakes|local honey|second-hand books|plants and seedlings] [alongside|as well as] [crafts|games] for children.",
            "[Entry|Admission] is free, [although|but] [donations|contributions] [to|for] the {charity} [are|will be] [welcome|gratefully received].",
            "[Last year|Last time], the {event} raised {n:400-3500} pounds for the {charity}.",
            "[Parking|Car parking] is [limited|scarce], so [visitors|people] are [encouraged|asked] to [walk, cycle or take the bus|come on foot if they can].",
            "[A brass band will play|The school choir will sing|A folk group will play] [at midday|in the afternoon], [weather permitting|if the rain holds off].",
            "[Helpers|Volunteers] are [still|urgently] needed [to set up|to run the tea tent|to help with parking], [even|if only] for an hour.",
            "[Anyone|Residents] wishing to [book a stall|take part] [should|can] [contact|speak to] {organiser_first} [at the library|through the parish office].",
            "The [event|venue] is [fully accessible|step-free], with [seating|benches] and [toilets|facilities] on site.",
            "[A|The] [children's|junior] [competition|prize draw] [will be|is] [judged|drawn] at {n:2-4} o'clock, with [prizes|book tokens] for [the winners|every age group].",
            "[Dogs|Well-behaved dogs] on leads are [welcome|allowed], and [water bowls|a shaded area] will be [provided|available] [near the entrance|by the gate].",
        ],
        [
            "[Preparations|Plans] began [months|weeks] ago, [with a small team meeting|and a committee of volunteers has met] [every|each] {weekday2} evening [since then|ever since].",
            '"[It is|This is] [a lot of work|hard work], [but|yet] seeing [everyone|the whole town] together [makes it worthwhile|is the best reward]," {organiser_first} said.',
            "[Local|Nearby] [businesses|shops] have [donated|given] [prizes|raffle prizes] [for the raffle|for the tombola], [including|among them] [a meal for two|a hamper].",
            "[Younger|Teenage] volunteers [from|at] the [secondary school|youth club] [are|will be] [helping|lending a hand] [with|on] the [day|stalls].",
            "The {event} [first took place|began] in {y:1950-2005}, [when|after] a [group|handful] of [neighbours|friends] [decided|wanted] to [raise money|do something] for the {charity}.",
            "[Photographs|Pictures] from [earlier|past] years [will be|are] [displayed|on show] [in|at] {venue} [during the day|throughout the event].",
            "[Most|Many] of the [tables|gazebos] and [signs|banners] are [borrowed|lent] [from|by] the [scouts|church|school] and [returned|handed back] the [next|following] morning.",
            "[Insurance|Safety checks] and [paperwork|permits] [take|fill] [more|far more] [time|evenings] than [anyone expects|anyone imagines|most people expect], {organiser_first} [admits|says].",
        ],
        [
            "[New|Fresh] [volunteers|helpers] are [always|especially] welcome, [and|even if] [no experience is needed|they can only spare an hour].",
            "[Roles|Jobs] [range|vary] from [making tea|selling raffle tickets] to [putting up|taking down] [tables|gazebos] [at the end of the day|after the event].",
            "[Anyone|Any resident] with a [skill|talent] to [share|offer], such as [face painting|baking] or [music|first aid], [should|can] [get in touch|speak to the organisers].",
            "[Schools|Clubs] [and|or] [groups|societies] [wishing|hoping] to [run|host] a [stall|display] [should|can] [book|reserve] a space [by|before] the end of {month}.",
            "[Litter|Recycling] [bins|points] [will be|are] [placed|set out] [around|across] the site, and [volunteers|helpers] will [clear up|tidy] [afterwards|the next morning].",
            "[Lost|Missing] [children|property] [can be|should be] [reported|taken] to the [information tent|welcome desk] [near|by] the [main gate|entrance].",
        ],
        [
            "[Long-time|Older] residents [remember|recall] the [first|earliest] {event} as a [much|far] smaller [affair|occasion], [with|run from] [just|only] [a few|a handful of] [tables|stalls].",
            "[One|A] [regular|long-standing] [stallholder|visitor] has [come|attended] [every year|each year] since {y:1975-2005}, [missing|without missing] [only one|a single one].",
            "[Photographs|Pictures] [in|from] the [library|parish] [archive|collection] show [crowds|children] [in|wearing] [sun hats|raincoats] [at|during] [past|early] events.",
            "[A few|Some] years [ago|back], [heavy rain|a thunderstorm] [forced|sent] [everyone|the whole event] [indoors|into the hall], [and|but] [nobody|few people] [seemed to mind|went home].",
            "[Friendships|Lasting friendships] [have|were] [formed|started] [over|around] the [tea urn|cake stall], {organiser_first} [says|recalls].",
            "Children who [once ran around at|used to play at] the event [now help to run it|now volunteer on the stalls].",
        ],
    ],
    "close": [
        "[Full details|The programme] [can be picked up|are available] at the library and [on|from] the town noticeboard.",
        "[Everyone is|All are] welcome, and [organisers|volunteers] [hope|expect] to see [plenty of|many] [familiar and new|new] faces.",
        "[Thank you|Thanks] [in advance|already] to [everyone|all the volunteers] who [will make|are making] [it|the day] [possible|a success].",
    ],
}
CHARITIES = [
    "children's hospice",
    "air ambulance",
    "food bank",
    "lifeboat crew",
    "village hall fund",
    "animal shelter",
    "school library fund",
    "community minibus",
]

# ---- technology explainers (one per concept; advice is real) --------------------------------

TECH_CONCEPTS = {
    "strong passwords": [
        "A strong password is long, and length matters more than clever symbols.",
        "Three or four random words joined together make a password that is long and easy to remember.",
        "Using the same password on several sites is risky, because one leak can expose all of them.",
        "A password manager can create and remember a different strong password for every account.",
        "You then need to remember only one main password, so it should be the strongest of all.",
        "Never share a password in an email or a message, even with someone you trust.",
    ],
    "backups": [
        "A backup is a second copy of your files, kept somewhere safe.",
        "A common rule is to keep three copies of important files, on two different kinds of storage, with one copy in another place.",
        "An external drive is a simple way to back up a home computer.",
        "Online backup services keep a copy away from home, which protects against fire or theft.",
        "A backup is only useful if it works, so try restoring a file now and then.",
        "Automatic backups are best, because it is easy to forget to do them by hand.",
    ],
    "software updates": [
        "Software updates often fix security problems that have been discovered since the last version.",
        "Attackers look for devices that have not been updated, because the weaknesses are already known.",
        "Turning on automatic updates is the easiest way to stay protected.",
        "Updates can also add new features and fix annoying faults.",
        "It is sensible to save your work and plug in a laptop before a large update.",
        "Old devices that no longer receive updates become riskier to use over time.",
    ],
    "home wireless networks": [
        "A home wireless network lets phones, computers and other devices share one internet connection.",
        "The router is the box that sends and receives the wireless signal.",
        "Walls, floors and large metal objects weaken the signal.",
        "Placing the router high up and near the middle of the home usually gives the best coverage.",
        "The network should be protected with a strong password so that strangers cannot use it.",
        "Changing the router's default admin password is an important first step after installing it.",
    ],
    "two-step verification": [
        "Two-step verification adds a second check when you sign in to an account.",
        "After typing your password, you also enter a short code from your phone or press a button in an app.",
        "Even if someone steals your password, they cannot sign in without the second step.",
        "Authenticator apps are generally safer than codes sent by text message.",
        "Most email and banking services offer two-step verification in their security settings.",
        "Keep the backup codes in a safe place in case you lose your phone.",
    ],
    "phishing emails": [
        "A phishing email pretends to come from a trusted organisation in order to trick you.",
        "Such messages often create a sense of urgency, warning that an account will be closed unless you act at once.",
        "Check the sender's address carefully, because it often differs slightly from the real one.",
        "Hover over a link before clicking it to see where it really leads.",
        "Banks will not ask you to confirm your password by email.",
        "If in doubt, contact the organisation using a phone number or website you already know.",
    ],
    "spreadsheets": [
        "A spreadsheet arranges information in rows and columns of cells.",
        "Each cell has an address made of its column letter and row number, such as B4.",
        "Cells can hold numbers, words or formulas.",
        "A formula can add up a column of numbers, so the total changes automatically when a number changes.",
        "Sorting and filtering make it easy to find information in a long list.",
        "Charts made from a spreadsheet can show trends that are hard to see in a table of numbers.",
    ],
}

TECH = {
    "titles": [
        "[A plain guide to|Understanding] {concept}",
        "{concept_cap} [explained|made simple|without the jargon]",
        "[Getting to grips with|A beginner's look at] {concept}",
    ],
    "intro": [
        "[Several|Many] readers [asked|wrote to ask] about {concept}, so [here is|we have put together] a [short|plain] [guide|explainer].",
        "{helper}, who [volunteers|helps out] at the {town} library's [weekly|Tuesday] computer [help desk|drop-in], [explains|walks through] {concept} [in plain words|without jargon].",
        "[You do not need|Nobody needs] to be [an expert|a technical person] to [understand|get to grips with] {concept}.",
    ],
    "sections": [
        "TECHFACTS",
        [
            "{helper_first} [says|finds] that [most|many] [questions|problems] at the help desk [come down to|have] [a few|the same few] [simple|common] causes.",
            "[Write|Jot] down [what you did|each step] [the first time|as you go], [so that it is easier to repeat|because this makes it simpler to remember].",
            "[Ask|Talk to] [a friend|a relative|the library staff] [if|when] [something|anything] [seems|looks] [confusing|unfamiliar].",
            "[Go slowly|Take your time], and [read|check] each [message|screen] [carefully|before clicking].",
            '"[There is no such thing as a silly question|Nobody should be embarrassed to ask for help]," {helper_first} [said|told us], "[especially about computers|and that goes for technology too]."',
            "The [help desk|drop-in session] [runs|is open] every {weekday} from ten until twelve, and [it is|the service is] free.",
            "[Older|Retired] [visitors|learners] [often|usually] [turn out to be|prove] [the most careful|the most patient] [students|learners], {helper_first} [says|has noticed].",
            "[Bring|Remember to bring] [your device|the phone or laptop] [and|along with] any [passwords|account details] you [need|will need], [kept|written] [somewhere safe|on paper at home].",
        ],
        [
            "[A|One] [common|frequent] [mistake|slip] is [ignoring|putting off] [warnings|messages] [because they seem|that seem] [too technical|unimportant].",
            "[Another|A second] is [clicking|pressing] [through|past] [screens|questions] [quickly|without reading them], [just|only] to [get rid of|close] them.",
            "[Keeping|Writing down] a list of [which accounts you have|the services you use] [makes|helps to make] [a yearly check|tidying up] [much|far] [easier|quicker].",
            "[Family members|Grandchildren] [can|are happy to] [help|explain], [but|yet] it [is worth learning|helps to learn] the [basics|main steps] yourself.",
            "[Libraries|Community centres] [often|sometimes] [run|offer] [free|short] [courses|sessions] on [everyday|basic] [computing|technology] [skills|topics].",
            "[If|When] [something|anything] goes wrong, [stay calm|do not panic]; [most|nearly all] [problems|mistakes] can be [fixed|undone] [with|given] a little [patience|time].",
        ],
        [
            "[One|A] reader, {reader}, [wrote|got in touch] to describe how [a|one] [problem|mistake] [with|involving] {concept} [cost|nearly cost] [them a week|a week] of [work|worry].",
            "{reader_first} [visited|went to] the help desk [the next|on the following] {weekday} and [left|went home] [with|having made] [a simple plan|a clear checklist].",
            "[Since then|Now], {reader_first} [checks|reviews] [everything|the settings] [once a month|every few weeks], [which|and it] [takes|needs] [only|just] [ten minutes|a few minutes].",
            '"[I wish|If only] [I had|someone had] [known|told me] this [sooner|years ago]," {reader_first} [said|told us].',
            "[Stories|Experiences] like this [are|turn out to be] [common|surprisingly common], {helper_first} [says|explains], and [nobody|no one] should feel [embarrassed|foolish] [about|for] [asking for|needing] help.",
            "[Friends|Neighbours] who heard about {reader_first}'s [experience|story] have [started|begun] [coming|visiting] [to the help desk|on Tuesdays] [as well|too].",
        ],
    ],
    "close": [
        "[A few minutes|An hour] spent on {concept} [today|now] can [save|spare you] [a great deal of|a lot of] trouble [later|in the future].",
        "[Next month|Next time], [we|the guide] will [look at|cover] another [everyday|common] [question|topic] from readers.",
    ],
}

# ---- fitness ---------------------------------------------------------------------------------

ACTIVITIES = [
    # name, plural person, fact sentences
    (
        "walking",
        "walkers",
        [
            "Walking is one of the simplest ways to stay active, and it needs no special equipment.",
            "A brisk walk raises the heart rate enough to count as moderate exercise.",
            "Many health services suggest about 150 minutes of moderate activity each week.",
            "Comfortable shoes with good support matter more than expensive clothing.",
        ],
    ),
    (
        "running",
        "runners",
        [
            "New runners often start by alternating short periods of running with walking.",
            "Increasing distance slowly, by about ten per cent a week, lowers the risk of injury.",
            "Rest days give muscles time to recover and grow stronger.",
            "Running on grass or trails is gentler on the joints than running on pavements.",
        ],
    ),
    (
        "cycling",
        "cyclists",
        [
            "Cycling is easy on the knees and hips compared with many other activities.",
            "A helmet and good lights make cycling much safer, especially in winter.",
            "Checking tyre pressure once a week makes riding easier and reduces punctures.",
            "Short trips to the shops by bicycle add up to a surprising amount of exercise.",
        ],
    ),
    (
        "swimming",
        "swimmers",
        [
            "Swimming works almost every muscle in the body.",
            "Because water supports the body, swimming is gentle on sore joints.",
            "Many pools offer quiet lane sessions for adults who want to swim steady lengths.",
            "Learning to breathe calmly is the key to swimming longer distances.",
        ],
    ),
    (
        "stretching",
        "people who stretch",
        [
            "Gentle stretching can improve flexibility and make everyday movements easier.",
            "Stretches should be held still for about twenty to thirty seconds, without bouncing.",
            "Stretching should never be painful, and mild tension is enough.",
            "Muscles stretch more easily when they are already warm.",
        ],
    ),
    (
        "strength training",
        "people who lift weights",
        [
            "Strength exercises help keep muscles and bones healthy as we get older.",
            "Simple exercises such as squats and press-ups need no equipment at all.",
            "Good form matters more than lifting heavy weights.",
            "Two sessions a week are enough to make steady progress.",
        ],
    ),
    (
        "good sleep",
        "sleepers",
        [
            "Most adults need between seven and nine hours of sleep a night.",
            "Going to bed and getting up at the same times each day helps the body keep a steady rhythm.",
            "Bright screens late in the evening can make it harder to fall asleep.",
            "A cool, dark and quiet bedroom makes restful sleep more likely.",
        ],
    ),
    (
        "staying hydrated",
        "people",
        [
            "Water makes up more than half of the human body.",
            "Thirst is a useful signal, but older people may not feel thirsty as easily.",
            "Pale yellow urine is a sign of being well hydrated.",
            "People need to drink more in hot weather and during exercise.",
        ],
    ),
]

FITNESS = {
    "titles": [
        "[Getting started with|A gentle introduction to] {activity}",
        "{activity_cap} [for beginners|at any age|on a busy schedule]",
        "[How|Why] {coach_first} [made|turned] {activity} [into a habit|into part of the week]",
        "[Small steps|Simple steps]: {activity} [for a healthier year|that lasts]",
    ],
    "intro": [
        "{coach}, who [leads|runs] a [free|weekly] [group|club] in {town}, [believes|says] that {activity} is [for everyone|open to everyone], [whatever their age|at any fitness level].",
        "[Starting|Beginning] something new can feel [daunting|awkward], [but|yet] {activity} [is|can be] [easier|simpler] than [most people|many people] [expect|think].",
        "[This|Our] [short|practical] guide [covers|explains] the basics of {activity}, with [tips|advice] from [experienced|local] {activity_people}.",
        "[At|By] the [start|end] of the [year|summer], [many|plenty of] [readers|people] [resolve|decide] to [try|take up] {activity}, and [this guide|these tips] should help them [stick with it|keep going].",
    ],
    "sections": [
        "FITFACTS",
        [
            "[Start|Begin] [gently|slowly] and [build up|increase] [bit by bit|a little each week].",
            "[Setting|Choosing] a [realistic|modest] [goal|target] [for the first month|at the start] [keeps|helps keep] [motivation|spirits] [high|up].",
            "[Doing it|Exercising] with a friend [makes it|turns it into] [more fun|a social occasion] and [harder to skip|easier to keep up].",
            "{coach_first}'s group [meets|gathers] at {meet_place} every {weekday} at {n:7-9} o'clock, [rain or shine|whatever the weather].",
            "[Anyone|People] with [a health condition|an injury] should [check|talk] with their doctor [before starting|before taking up] [a new routine|anything new].",
            "[Progress|Improvement] [is|may be] [slow|gradual] at first, [but|yet] [after a few weeks|by the second month] [most people|many people] [notice|feel] a [real|clear] difference.",
            "[Keeping|Writing] a [simple|short] [diary|log] of [each session|what you did] [shows|makes it easy to see] how far you have come.",
            '"[The hardest part|The most difficult step] is [getting out of the door|putting your shoes on]," {coach_first} [said|laughed]. "[After that|Once you start], it [gets easier|takes care of itself]."',
            "[Rest|Recovery] matters [too|just as much], so listen to your body and do not push through pain.",
            "Some people prefer mornings and others evenings, and the [right|best] time is [simply|just] the one you can [keep to|stick to].",
        ],
        [
            "[Comfortable|Loose], [breathable|light] clothing is [all you need|enough] [at first|to begin with], and [expensive|special] [kit|gear] can wait.",
            "[Good|Well-fitting] shoes are the [one|single] [purchase|investment] worth making early.",
            "[A|One] [small|cheap] [water bottle|towel] and a [warm|spare] layer [for|in] [cooler|colder] weather [complete|finish] the [kit|list].",
            "[Bright|Reflective] clothing [is|becomes] [important|essential] [on dark evenings|in winter], [especially|above all] [near|on] [roads|busy streets].",
            "[Many|Some] [people|beginners] [find|say] that a [simple|free] [timer|stopwatch] [keeps them on track|keeps them motivated] [better than|more than] [any|an expensive] gadget.",
            "[Second-hand|Used] [equipment|gear] from [friends|local sales] is [often|usually] [perfectly good|just as good] and [costs far less|saves a lot of money].",
        ],
        [
            "[Members|Regulars] of {coach_first}'s group [range|vary] in age from [teenagers|students] to [people in their eighties|grandparents].",
            "[One|A] [member|regular], {member}, [joined|started] [two years ago|last spring] [after|following] [a long illness|an operation] and [now|today] [helps newcomers|leads the warm-up].",
            '"[I came for|I joined for] the [exercise|fitness] [and stayed for|but I stay for] the [company|friendship]," {member_first} [said|told us].',
            "[After|Following] [each|every] session, [many|most] of the group [gather|meet] [for|over] [tea|coffee] at a [nearby|local] café.",
            "[Once a year|Every summer], the group [takes part in|joins] a [charity|fun] event to raise money for the {charity}.",
            "{coach_first} [started|founded] the group [with|after putting up] [a|one] [notice|poster] [in|on] the [library|post office] [window|noticeboard].",
            "[Nobody|No one] is [ever|ever] left behind, [because|since] [faster|fitter] members [loop back|turn round] to [join|walk with] [the slower ones|those at the back].",
        ],
    ],
    "close": [
        "[Whatever|However] you [choose|decide] to [start|begin], [the best time|now] is [today|this week].",
        "[New members|Newcomers] are [always|very] welcome at {coach_first}'s group, and [no experience is needed|there is no charge].",
        "[Next month|In the next issue], we [look at|explore] [healthy|simple] [habits|routines] [for the colder months|for busy families].",
    ],
}

# ----------------------------------------------------------------------------------------------
# Binder: chooses the per-article entities (dish, town, people, ...) and special sentences
# ----------------------------------------------------------------------------------------------

TOPICS = {
    "cooking": COOKING,
    "gardening": GARDENING,
    "history": HISTORY,
    "travel": TRAVEL,
    "science": SCIENCE,
    "sports": SPORTS,
    "books": BOOKS,
    "finance": FINANCE,
    "howto": HOWTO,
    "weather": WEATHER,
    "pets": PETS_TOPIC,
    "community": COMMUNITY,
    "tech": TECH,
    "fitness": FITNESS,
}

SECTION_HEADINGS = {
    "cooking": ["What you will need", "Method", "Tips from the kitchen", "Where the recipe comes from"],
    "gardening": [
        "Sowing and planting",
        "Care through the season",
        "Harvest and after",
        "Life on the allotments",
    ],
    "history": ["Early days", "Fire, railways and change", "The building today"],
    "travel": ["Getting there", "What to see", "Eating and drinking", "History and character"],
    "science": ["The basic idea", "Learning more", "In the classroom"],
    "sports": ["How the goals came", "The game", "After the match", "Looking ahead"],
    "books": ["The story", "The writing", "The verdict", "About the author"],
    "finance": ["Know where the money goes", "Make saving automatic", "Keep it going", "Common mistakes"],
    "howto": ["Before you start", "Step by step", "Tips", "The repair workshop"],
    "weather": ["What to expect", "Later in the week", "Local records", "Be prepared", "Nature notes"],
    "pets": ["Facts worth knowing", "Day-to-day care", "Before you decide", "A day in the life"],
    "community": ["What is on", "Behind the scenes", "How to help", "Memories"],
    "tech": ["The essentials", "Getting help", "Common mistakes", "A reader's story"],
    "fitness": ["The basics", "Making it stick", "What to wear", "Meet the group"],
}

WEATHER_MONTHS = {
    "storm": ["October", "November", "December", "January", "February"],
    "heat": ["June", "July", "August"],
    "frost": ["November", "December", "January", "February", "March"],
    "rain": ["April", "May", "September", "October"],
    "fog": ["October", "November", "December", "January"],
}


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class Deck:
    """Draw items without replacement, reshuffling when empty (deterministic)."""

    def __init__(self, items, rng: random.Random):
        self.items = list(items)
        self.rng = rng
        self.stack: list = []

    def draw(self):
        if not self.stack:
            self.stack = list(self.items)
            self.rng.shuffle(self.stack)
        return self.stack.pop()


class Binder:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.decks = {
            "dish": Deck(DISHES, rng),
            "plant": Deck(PLANTS, rng),
            "landmark": Deck(LANDMARKS, rng),
            "dest": Deck(DESTINATIONS, rng),
            "science": Deck(sorted(SCIENCE_CONCEPTS), rng),
            "task": Deck(sorted(HOWTO_TASKS), rng),
            "tech": Deck(sorted(TECH_CONCEPTS), rng),
            "pet": Deck(sorted(PETS), rng),
            "event": Deck(EVENTS, rng),
            "goal": Deck(GOALS, rng),
            "genre": Deck(GENRES, rng),
            "activity": Deck(ACTIVITIES, rng),
            "town": Deck(TOWNS, rng),
            "weather": Deck(sorted(WEATHER_EVENTS), rng),
            "team": Deck(TEAMS, rng),
            "book": Deck(BOOK_TITLES, rng),
        }

    def people(self, *roles: str) -> dict[str, str]:
        out: dict[str, str] = {}
        used: set[str] = set()
        for role in roles:
            while True:
                first, full = person(self.rng)
                if first not in used:
                    used.add(first)
                    break
            out[role] = full
            out[role + "_first"] = first
        return out

    def bind(self, topic: str) -> tuple[dict[str, str], list[str]]:
        rng, d = self.rng, self.decks
        town = d["town"].draw()
        b: dict[str, str] = {
            "town": town,
            "river": rng.choice(RIVERS),
            "weekday2": rng.choice(WEEKDAYS),
            "month": rng.choice(MONTHS),
            "charity": rng.choice(CHARITIES),
        }
        special: list[str] = []
        if topic == "cooking":
            dish, main, style = d["dish"].draw()
            b.update(dish=dish, main=main, subject=dish, **self.people("cook"))
            special = [fill(t, rng, b) for t in COOK_STYLE[style]]
        elif topic == "gardening":
            plant, sow, harvest = d["plant"].draw()
            b.update(
                plant=plant,
                sow_month=sow,
                harvest=harvest,
                subject="growing " + plant,
                **self.people("gardener"),
            )
        elif topic == "history":
            landmark, what, trade = d["landmark"].draw()
            b.update(
                landmark=landmark,
                what=what,
                trade=trade,
                subject=landmark,
                **self.people("historian", "founder"),
            )
        elif topic == "travel":
            dest, sight, sight2, food, transport = d["dest"].draw()
            b.update(
                dest=dest,
                sight=sight,
                sight2=sight2,
                food=food,
                transport=transport,
                subject="trips to " + dest,
                **self.people("traveller"),
            )
        elif topic == "science":
            concept = d["science"].draw()
            b.update(concept=concept, subject=concept, **self.people("expert"))
            b["title"] = rng.choice(SCIENCE_CONCEPTS[concept]["title"])
            special = list(SCIENCE_CONCEPTS[concept]["facts"])
        elif topic == "sports":
            (home, ground), (away, _) = d["team"].draw(), d["team"].draw()
            while away == home:
                away = d["team"].draw()[0]
            ls = rng.randint(0, 2)
            ws = ls + rng.randint(1, 2)
            winner, loser = (home, away) if rng.random() < 0.6 else (away, home)
            b.update(
                home=home,
                away=away,
                ground=ground,
                winner=winner,
                loser=loser,
                ws=str(ws),
                ls=str(ls),
                ord_pos=ordinal(rng.randint(2, 9)),
                subject="local football",
                **self.people("captain", "sub", "manager"),
            )
            scorers = [person(rng)[1] for _ in range(ws + ls)]
            special = sports_goal_sentences(rng, b, scorers)
        elif topic == "books":
            genre, plural, premise = d["genre"].draw()
            book = d["book"].draw()
            b.update(
                book=book,
                genre=genre,
                genre_plural=plural,
                premise=premise,
                hero=rng.choice(FIRST_NAMES),
                setting=rng.choice(TOWNS),
                subject="local writers",
                **self.people("author"),
            )
        elif topic == "finance":
            b.update(
                goal=d["goal"].draw(),
                amount=str(rng.choice(range(800, 6001, 100))),
                subject="household budgets",
                **self.people("saver"),
            )
        elif topic == "howto":
            task = d["task"].draw()
            b.update(task=task, subject="learning how to " + task, **self.people("fixer"))
            special = list(HOWTO_TASKS[task])
        elif topic == "weather":
            ev = d["weather"].draw()
            titles = {
                "storm": "Strong winds and heavy rain",
                "heat": "Hot sunshine",
                "frost": "Cold nights and frost",
                "rain": "A wet and showery week",
                "fog": "Thick morning fog",
            }
            words = {
                "storm": "storm",
                "heat": "hot spell",
                "frost": "cold snap",
                "rain": "wet spell",
                "fog": "fog",
            }
            b.update(
                event_title=titles[ev],
                event_title_lower=titles[ev][0].lower() + titles[ev][1:],
                event_word=words[ev],
                month=rng.choice(WEATHER_MONTHS[ev]),
                subject="the weather",
                **self.people("forecaster"),
            )
            b["event_intro"] = fill(WEATHER_EVENTS[ev][0], rng, b)
            special = [fill(t, rng, b) for t in WEATHER_EVENTS[ev][1:]]
        elif topic == "pets":
            pet = d["pet"].draw()
            plural = {"guinea pig": "guinea pigs", "goldfish": "goldfish"}.get(pet, pet + "s")
            b.update(
                pet=pet,
                pet_plural=plural,
                pet_plural_cap=plural[0].upper() + plural[1:],
                pet_name=rng.choice(PET_NAMES),
                subject="keeping " + plural,
                **self.people("owner", "vet"),
            )
            special = list(PETS[pet])
        elif topic == "community":
            event, venue = d["event"].draw()
            b.update(
                event=event,
                venue=venue,
                date=f"{rng.randint(2, 27)} {rng.choice(MONTHS)}",
                subject="the " + event,
                **self.people("organiser"),
            )
        elif topic == "tech":
            concept = d["tech"].draw()
            b.update(
                concept=concept,
                concept_cap=concept[0].upper() + concept[1:],
                subject=concept,
                **self.people("helper", "reader"),
            )
            special = list(TECH_CONCEPTS[concept])
        elif topic == "fitness":
            name, people_word, facts = d["activity"].draw()
            b.update(
                activity=name,
                activity_cap=name[0].upper() + name[1:],
                activity_people=people_word,
                subject=name,
                meet_place=rng.choice(
                    [
                        "the park gates",
                        "the leisure centre",
                        "the library steps",
                        "the harbour car park",
                        "the school field",
                    ]
                ),
                **self.people("coach", "member"),
            )
            special = list(facts)
        else:
            raise ValueError(topic)
        return b, special


def _paragraphs(sentences: list[str], rng: random.Random, lo: int = 3, hi: int = 6) -> list[str]:
    paras, i = [], 0
    while i < len(sentences):
        k = rng.randint(lo, hi)
        if len(sentences) - (i + k) < 2:  # avoid a dangling one-sentence paragraph
            k = len(sentences) - i
        paras.append(" ".join(sentences[i : i + k]))
        i += k
    return paras


@dataclass
class Section:
    heading: str | None
    paragraphs: list[str]


def build_article(rng: random.Random, binder: Binder, topic: str) -> tuple[Article, list[Section]]:
    """Compose one article: intro, the topic's sections in order, a closing paragraph."""
    spec = TOPICS[topic]
    bind, special = binder.bind(topic)
    generic = rng.sample(GENERIC, 10)
    subject = rng.sample(SUBJECT, 6)

    def draw(pool: list[str], k: int) -> list[str]:
        return [fill(t, rng, bind) for t in rng.sample(pool, min(k, len(pool)))]

    title = title_case(bind.get("title") or fill(rng.choice(spec["titles"]), rng, bind))
    sections: list[Section] = []
    intro = draw(spec["intro"], rng.randint(2, 3))
    if rng.random() < 0.5:
        intro.append(fill(subject.pop(), rng, bind))
    sections.append(Section(None, [" ".join(intro)]))
    headings = SECTION_HEADINGS[topic]
    for idx, pool in enumerate(spec["sections"]):
        if isinstance(pool, str):
            sents = list(special)
        else:
            # gardening and cooking reuse their main noun often, so they draw fewer templates
            # per section to keep articles of the same topic far apart for MinHash
            lo, hi = (0.6, 0.85) if topic in ("gardening", "cooking") else (0.8, 1.0)
            k = max(4, round(len(pool) * rng.uniform(lo, hi)))
            sents = draw(pool, k)
        extra = []
        if generic and rng.random() < 0.8:
            extra.append(fill(generic.pop(), rng, bind))
        if generic and rng.random() < 0.4:
            extra.append(fill(generic.pop(), rng, bind))
        if subject and rng.random() < 0.6:
            extra.append(fill(subject.pop(), rng, bind))
        for e in extra:
            sents.insert(rng.randint(1, len(sents)), e)
        heading = headings[idx] if idx < len(headings) and rng.random() < 0.7 else None
        sections.append(Section(heading, _paragraphs(sents, rng)))
    closing = draw(spec["close"], 2)
    if generic:
        closing.insert(0, fill(generic.pop(), rng, bind))
    sections.append(Section(None, [" ".join(closing)]))
    byline = person(rng)[1]
    date = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 420))
    paragraphs = [p for s in sections for p in s.paragraphs]
    return Article(topic, title, byline, date, paragraphs, bind), sections


# ----------------------------------------------------------------------------------------------
# Sites and page layouts (every host is made up, under .example / .example.org / .test)
# ----------------------------------------------------------------------------------------------


@dataclass
class Site:
    host: str
    name: str
    tagline: str
    layout: str  # news | blog | magazine | minimal
    nav: list[str]
    url_style: str  # dated | blog | html | story
    server: str
    cookie_banner: bool = True


SITES = {
    "harwick-gazette.example": Site(
        "harwick-gazette.example",
        "The Harwick Gazette",
        "News from Harwick and the Wend valley since 1874",
        "news",
        ["News", "Sport", "Weather", "History", "What's on", "Letters", "Obituaries", "Jobs"],
        "dated",
        "nginx/1.24.0",
    ),
    "marrowby-courier.example": Site(
        "marrowby-courier.example",
        "Marrowby Courier",
        "Your local paper for Marrowby, Fennick and the coast",
        "news",
        ["Home", "Local news", "Sport", "Community", "Weather", "Heritage", "Motoring", "Contact"],
        "story",
        "Apache/2.4.58 (Debian)",
    ),
    "kitchen-notes.example": Site(
        "kitchen-notes.example",
        "Kitchen Notes",
        "Simple home cooking, written down",
        "blog",
        ["Recipes", "Soups", "Baking", "Weeknight suppers", "About"],
        "blog",
        "nginx",
    ),
    "greenthumb-journal.example.org": Site(
        "greenthumb-journal.example.org",
        "The Green Thumb Journal",
        "Allotment and garden writing",
        "magazine",
        ["Grow your own", "Flowers", "Pests", "Tools", "Allotment diaries", "Shop"],
        "html",
        "Apache/2.4.57 (Ubuntu)",
    ),
    "wandering-map.example": Site(
        "wandering-map.example",
        "The Wandering Map",
        "Slow travel on the coast and in the hills",
        "blog",
        ["Destinations", "Walks", "Rail journeys", "Food", "Plan a trip"],
        "blog",
        "cloudflare",
    ),
    "plainscience.example.org": Site(
        "plainscience.example.org",
        "Plain Science",
        "Everyday science and technology in plain words",
        "magazine",
        ["Earth", "Sky", "Life", "Technology", "Ask us", "Newsletter"],
        "html",
        "nginx/1.22.1",
    ),
    "quietshelf-reviews.example": Site(
        "quietshelf-reviews.example",
        "The Quiet Shelf",
        "Book reviews for patient readers",
        "minimal",
        ["Reviews", "Interviews", "About"],
        "dated",
        "Caddy",
        cookie_banner=False,
    ),
    "pennywise-household.example": Site(
        "pennywise-household.example",
        "Pennywise Household",
        "Calm, practical money advice",
        "magazine",
        ["Budgeting", "Saving", "Debt", "Bills", "Tools", "Newsletter"],
        "story",
        "nginx",
    ),
    "fixit-weekend.test": Site(
        "fixit-weekend.test",
        "Fix It at the Weekend",
        "Repairs and projects for the rest of us",
        "blog",
        ["Plumbing", "Decorating", "Garden jobs", "Bikes", "Tool reviews"],
        "blog",
        "openresty",
    ),
    "pawprint-daily.example": Site(
        "pawprint-daily.example",
        "Pawprint Daily",
        "Caring for the animals we live with",
        "news",
        ["Dogs", "Cats", "Small pets", "Birds", "Ask the vet", "Adopt"],
        "dated",
        "nginx/1.25.3",
    ),
    "stride-and-stretch.example": Site(
        "stride-and-stretch.example",
        "Stride and Stretch",
        "Gentle fitness for real people",
        "minimal",
        ["Start here", "Walking", "Running", "Strength", "Rest"],
        "blog",
        "nginx",
        cookie_banner=False,
    ),
}

TOPIC_SITES = {
    "cooking": ["kitchen-notes.example"],
    "gardening": ["greenthumb-journal.example.org"],
    "history": ["harwick-gazette.example", "marrowby-courier.example"],
    "travel": ["wandering-map.example"],
    "science": ["plainscience.example.org"],
    "sports": ["harwick-gazette.example", "marrowby-courier.example"],
    "books": ["quietshelf-reviews.example"],
    "finance": ["pennywise-household.example"],
    "howto": ["fixit-weekend.test"],
    "weather": ["harwick-gazette.example", "marrowby-courier.example"],
    "pets": ["pawprint-daily.example"],
    "community": ["harwick-gazette.example", "marrowby-courier.example"],
    "tech": ["plainscience.example.org"],
    "fitness": ["stride-and-stretch.example"],
}

TOPIC_SECTION = {
    "cooking": "recipes",
    "gardening": "grow-your-own",
    "history": "history",
    "travel": "destinations",
    "science": "explainers",
    "sports": "sport",
    "books": "reviews",
    "finance": "money",
    "howto": "guides",
    "weather": "weather",
    "pets": "pets",
    "community": "whats-on",
    "tech": "technology",
    "fitness": "start-here",
}


def slugify(text: str) -> str:
    text = text.lower().replace("'", "")
    text = re.sub(r"[^a-z0-9]+", "-", text)
    return text.strip("-")[:70].rstrip("-")


def article_url(site: Site, art: Article, rng: random.Random, topic: str) -> str:
    slug = slugify(art.title)
    if site.url_style == "dated":
        return f"https://{site.host}/{art.date.year}/{art.date.month:02d}/{slug}/"
    if site.url_style == "blog":
        return f"https://{site.host}/blog/{slug}"
    if site.url_style == "html":
        return f"https://{site.host}/{TOPIC_SECTION[topic]}/{slug}.html"
    return f"https://{site.host}/story/{rng.randint(10000, 99999)}-{slug}"


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def fmt_date(d: dt.date) -> str:
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


COMMENT_LINES = [
    "Thank you for writing this, it was really helpful.",
    "We tried this last weekend and it worked well.",
    "Lovely piece. My grandmother used to say the same thing.",
    "Could you write something about the winter months next?",
    "Great read, shared it with my neighbours.",
    "I learned something new today, thanks.",
    "This brought back a lot of memories.",
    "Very clear, even for a beginner like me.",
]


def _head(
    title: str, site_name: str, url: str, description: str, charset: str | None, lang: str = "en"
) -> str:
    meta = f'<meta charset="{charset}">\n' if charset else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n{meta}'
        f"<title>{esc(title)} | {esc(site_name)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="description" content="{html.escape(description)}">\n'
        f'<link rel="canonical" href="{url}">\n'
        f'<meta property="og:title" content="{html.escape(title)}">\n'
        '<link rel="stylesheet" href="/static/css/site.css?v=7">\n'
        '<script async src="/static/js/stats.js"></script>\n'
        "<script>window.dataLayer = window.dataLayer || []; "
        "function track(){dataLayer.push(arguments);} track('page');</script>\n"
        "</head>\n"
    )


def _cookie_banner() -> str:
    return (
        '<div id="cookie-banner" class="cookie-consent" role="dialog">'
        "<p>This site uses cookies to remember your settings and count visits. "
        'Read our <a href="/cookies">cookie policy</a> to find out more.</p>'
        "<button>Accept</button> <button>Reject</button></div>\n"
    )


def _nav(site: Site) -> str:
    items = "".join(f'<li><a href="/{slugify(n)}/">{esc(n)}</a></li>' for n in site.nav)
    return f'<nav class="main-nav"><ul><li><a href="/">Home</a></li>{items}</ul></nav>\n'


def _footer(site: Site, year: int = 2024) -> str:
    return (
        '<footer class="site-footer"><ul class="footer-links">'
        '<li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li>'
        '<li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of use</a></li>'
        '<li><a href="/advertise">Advertise</a></li></ul>'
        f"<p>&copy; {year} {esc(site.name)}. All rights reserved.</p></footer>\n"
    )


def _body_html(sections: list[Section], rng: random.Random, ad_every: int = 0) -> str:
    parts = []
    n = 0
    for s in sections:
        if s.heading:
            parts.append(f"<h2>{esc(s.heading)}</h2>")
        for p in s.paragraphs:
            parts.append(f"<p>{esc(p)}</p>")
            n += 1
            if ad_every and n % ad_every == 0:
                parts.append('<div class="ad-slot" aria-hidden="true"><span>Advertisement</span></div>')
    return "\n".join(parts) + "\n"


def render_article(
    site: Site,
    art: Article,
    sections: list[Section],
    url: str,
    rng: random.Random,
    related: list[tuple[str, str]],
    charset: str | None = "utf-8",
    variant: int = 0,
) -> str:
    """Render an article inside the site's layout. `related` holds (title, url) for sidebars."""
    desc = art.paragraphs[0].split(". ")[0][:150]
    head = _head(art.title, site.name, url, desc, charset)
    date = fmt_date(art.date)
    rel = "".join(f'<li><a href="{u}">{esc(t)}</a></li>' for t, u in related)
    cookie = _cookie_banner() if site.cookie_banner else ""
    body = _body_html(sections, rng, ad_every=3 if site.layout in ("news", "magazine") else 0)
    if site.layout == "news":
        return head + (
            f'<body class="article-page">\n{cookie}'
            '<header class="site-header">\n'
            f'<div class="top-bar"><span class="today">{esc(fmt_date(dt.date(2024, 3, 4)))}</span> '
            '<a href="/subscribe">Subscribe</a> <a href="/login">Sign in</a></div>\n'
            f'<a class="logo" href="/">{esc(site.name)}</a>\n<p class="tagline">{esc(site.tagline)}</p>\n'
            f"{_nav(site)}</header>\n"
            f'<div class="breadcrumbs"><a href="/">Home</a> &rsaquo; <a href="/{TOPIC_SECTION[art.topic]}/">'
            f"{esc(TOPIC_SECTION[art.topic].replace('-', ' ').title())}</a></div>\n"
            '<main id="content">\n<article class="story">\n'
            f"<h1>{esc(art.title)}</h1>\n"
            f'<p class="byline">By <a href="/authors/{slugify(art.byline)}">{esc(art.byline)}</a> '
            f'<time datetime="{art.date.isoformat()}">{date}</time></p>\n'
            f"{body}"
            '<div class="share">Share this story: <a href="#">Email</a> <a href="#">Print</a> '
            '<a href="#">Copy link</a></div>\n'
            "</article>\n"
            f'<aside class="sidebar"><h3>Most read</h3><ol>{rel}</ol>\n'
            '<h3>Newsletter</h3><form action="/newsletter" method="post">'
            '<input type="email" name="email" placeholder="Your email address">'
            "<button>Sign up</button></form></aside>\n"
            "</main>\n" + _footer(site) + "</body>\n</html>\n"
        )
    if site.layout == "blog":
        ncom = rng.randint(0, 3)
        comments = "".join(
            f'<li class="comment"><p class="comment-author">{esc(person(rng)[0])} said:</p>'
            f"<p>{esc(c)}</p></li>"
            for c in rng.sample(COMMENT_LINES, ncom)
        )
        tags = ", ".join(f'<a href="/tag/{slugify(t)}">{esc(t)}</a>' for t in rng.sample(site.nav[:-1], 2))
        return head + (
            f"<body>\n{cookie}"
            '<div class="wrapper">\n<header id="masthead">'
            f'<p class="site-title"><a href="/">{esc(site.name)}</a></p>'
            f'<p class="site-description">{esc(site.tagline)}</p>\n{_nav(site)}</header>\n'
            '<div id="primary" class="content-area">\n<main class="site-main">\n'
            '<article class="post hentry">\n'
            f'<header class="entry-header"><h1 class="entry-title">{esc(art.title)}</h1>'
            f'<div class="entry-meta">Posted on <time class="published" datetime="{art.date.isoformat()}">'
            f"{date}</time> by {esc(art.byline)}</div></header>\n"
            f'<div class="entry-content">\n{body}</div>\n'
            f'<footer class="entry-footer">Filed under: {tags}</footer>\n'
            "</article>\n"
            f'<section id="comments" class="comments-area"><h2 class="comments-title">{ncom} comments</h2>'
            f'<ol class="comment-list">{comments}</ol></section>\n'
            "</main>\n</div>\n"
            '<aside id="secondary" class="widget-area">'
            f'<section class="widget"><h2 class="widget-title">Recent posts</h2><ul>{rel}</ul></section>'
            '<section class="widget"><h2 class="widget-title">Archives</h2><ul>'
            + "".join(
                f'<li><a href="/{y}/{m:02d}/">{MONTHS[m - 1]} {y}</a></li>'
                for y, m in [(2024, 2), (2024, 1), (2023, 12), (2023, 11), (2023, 10)]
            )
            + "</ul></section></aside>\n</div>\n"
            + _footer(site)
            + "</body>\n</html>\n"
        )
    if site.layout == "magazine":
        mega = "".join(
            f'<li><a href="/{slugify(n)}/">{esc(n)}</a><ul>'
            + "".join(
                f'<li><a href="/{slugify(n)}/{slugify(s)}/">{esc(s)}</a></li>'
                for s in ("Latest", "Guides", "Popular", "Archive")
            )
            + "</ul></li>"
            for n in site.nav
        )
        return head + (
            f"<body>\n{cookie}"
            '<div class="promo-strip">Get our free weekly newsletter. <a href="/newsletter">Sign up</a></div>\n'
            f'<header class="masthead"><a class="brand" href="/">{esc(site.name)}</a>'
            f'<nav class="mega-menu"><ul>{mega}</ul></nav>'
            '<form class="search" action="/search"><input name="q" placeholder="Search"></form></header>\n'
            '<main>\n<div class="article-header">'
            f'<span class="kicker">{esc(TOPIC_SECTION[art.topic].replace("-", " ").title())}</span>'
            f"<h1>{esc(art.title)}</h1>"
            f'<p class="meta">{esc(art.byline)} &middot; {date} &middot; {max(2, art.word_count() // 200)} min read</p>'
            "</div>\n"
            f'<div class="article-body">\n{body}</div>\n'
            f'<div class="related"><h3>You might also like</h3><ul>{rel}</ul></div>\n'
            "</main>\n" + _footer(site) + "</body>\n</html>\n"
        )
    # minimal
    return head + (
        '<body>\n<div class="container">\n'
        f'<nav><a href="/">{esc(site.name)}</a> '
        + " ".join(f'<a href="/{slugify(n)}/">{esc(n)}</a>' for n in site.nav)
        + "</nav>\n<article>\n"
        f"<header><h1>{esc(art.title)}</h1><p><small>{date}</small></p></header>\n"
        f"{body}</article>\n"
        f'<footer><p>Written by {esc(art.byline)}. <a href="/about">About this site</a></p></footer>\n'
        "</div>\n</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------------------------
# Pages in other languages (written for this project; places are invented)
# ----------------------------------------------------------------------------------------------

FOREIGN = {
    "de": {
        "host": "lindenauer-bote.example",
        "site": "Lindenauer Bote",
        "nav": ["Startseite", "Lokales", "Freizeit", "Kultur", "Sport", "Kontakt"],
        "pages": [
            (
                "lokales/wochenmarkt-lindenau",
                "Der Wochenmarkt in Lindenau",
                [
                    "Jeden Samstagmorgen verwandelt sich der Marktplatz von Lindenau in einen bunten Treffpunkt. Schon um sieben Uhr bauen die ersten Händler ihre Stände auf, und bald duftet es nach frischem Brot, Kaffee und gebrannten Mandeln. Viele Familien kommen nicht nur zum Einkaufen, sondern auch, um Nachbarn zu treffen und ein wenig zu plaudern.",
                    "Besonders beliebt ist der Stand von Frau Albers, die seit über zwanzig Jahren Gemüse aus ihrem eigenen Garten verkauft. Im Frühling gibt es bei ihr Spargel und Radieschen, im Sommer Tomaten und Bohnen, und im Herbst stapeln sich Kürbisse in allen Farben. Sie sagt, dass ihre Kunden heute viel mehr Wert auf regionale Produkte legen als früher.",
                    "Der Markt ist bis zum frühen Nachmittag geöffnet. Wer mit dem Fahrrad kommt, findet genügend Abstellplätze neben dem Rathaus. Bei schlechtem Wetter ziehen einige Händler in die alte Markthalle um, damit niemand im Regen stehen muss.",
                ],
            ),
            (
                "freizeit/herbstwanderung-silberbach",
                "Wandern im Herbst: Am Silberbach entlang zur alten Mühle",
                [
                    "Der Herbst ist die schönste Jahreszeit zum Wandern. Die Luft ist klar, die Wälder leuchten in Gelb und Rot, und auf den Wegen ist es angenehm ruhig. Unsere heutige Tour führt über etwa zwölf Kilometer am Silberbach entlang bis zur alten Mühle.",
                    "Der Weg beginnt am kleinen Parkplatz hinter der Kirche und steigt zunächst sanft an. Nach einer knappen Stunde erreicht man einen Aussichtspunkt, von dem aus man das ganze Tal überblicken kann. Hier lohnt sich eine kurze Pause, bevor es durch einen dichten Buchenwald wieder bergab geht.",
                    "Festes Schuhwerk ist wichtig, denn nach Regenfällen können die Wege rutschig sein. Außerdem sollte man genug Wasser und einen kleinen Imbiss mitnehmen, da es unterwegs keine Einkehrmöglichkeit gibt. Die Wanderung ist auch für Kinder gut geeignet.",
                ],
            ),
            (
                "kultur/neue-stadtbibliothek",
                "Die neue Stadtbibliothek öffnet ihre Türen",
                [
                    "Nach zwei Jahren Bauzeit ist es endlich so weit: Die neue Stadtbibliothek wird am kommenden Montag feierlich eröffnet. Das helle Gebäude am Fluss bietet Platz für mehr als sechzigtausend Bücher, dazu kommen Zeitschriften, Hörbücher und Spiele.",
                    "Im Erdgeschoss gibt es eine große Kinderabteilung mit gemütlichen Leseecken. Im ersten Stock befinden sich ruhige Arbeitsplätze für Schüler und Studenten sowie ein kleiner Raum für Veranstaltungen. Die Leiterin der Bibliothek hofft, dass das Haus zu einem Treffpunkt für alle Generationen wird.",
                    "Die Öffnungszeiten wurden erweitert. Von Dienstag bis Samstag ist die Bibliothek nun bis zwanzig Uhr geöffnet. Ein Leseausweis ist für Kinder und Jugendliche weiterhin kostenlos, und Erwachsene zahlen nur einen kleinen Jahresbeitrag.",
                ],
            ),
        ],
    },
    "fr": {
        "host": "gazette-du-port.example",
        "site": "La Gazette du Port",
        "nav": ["Accueil", "Actualités", "Cuisine", "Sorties", "Santé", "Contact"],
        "pages": [
            (
                "cuisine/soupe-de-legumes-de-grand-mere",
                "La soupe de légumes de ma grand-mère",
                [
                    "Quand l'automne arrive et que les soirées deviennent plus fraîches, rien ne vaut une bonne soupe de légumes. Cette recette vient de ma grand-mère, qui la préparait chaque dimanche soir dans une grande marmite en fonte. Elle est simple, économique et plaît aux petits comme aux grands.",
                    "Pour quatre personnes, il vous faut trois carottes, deux poireaux, une pomme de terre, un oignon et un morceau de céleri. Épluchez les légumes, coupez-les en petits morceaux et faites revenir l'oignon dans un peu de beurre. Ajoutez ensuite le reste des légumes, couvrez d'eau et laissez mijoter pendant quarante minutes.",
                    "À la fin de la cuisson, mixez la soupe et goûtez-la avant de saler. Ma grand-mère ajoutait toujours une cuillère de crème et quelques brins de persil frais. Servie avec du pain grillé, cette soupe fait un repas complet et réconfortant.",
                ],
            ),
            (
                "sorties/une-journee-a-port-saint-aubin",
                "Une journée au bord de la mer à Port-Saint-Aubin",
                [
                    "Il suffit d'une heure de train pour quitter la ville et rejoindre la petite station balnéaire de Port-Saint-Aubin. Hors saison, le village est calme et les plages sont presque désertes. C'est le moment idéal pour se promener le long des falaises et respirer l'air marin.",
                    "Le matin, nous avons visité le marché aux poissons, où les pêcheurs vendent leur prise du jour. Ensuite, nous avons suivi le sentier côtier jusqu'au phare, d'où la vue sur la baie est magnifique. En chemin, on croise des moutons, des bateaux de pêche et parfois même des phoques.",
                    "Pour le déjeuner, une petite crêperie près du port propose des galettes délicieuses à des prix raisonnables. L'après-midi, nous avons flâné dans les ruelles avant de reprendre le train du soir, fatigués mais ravis.",
                ],
            ),
            (
                "sante/conseils-pour-bien-dormir",
                "Quelques conseils pour bien dormir",
                [
                    "Le sommeil joue un rôle essentiel pour notre santé. Pourtant, de nombreuses personnes ont du mal à s'endormir ou se réveillent plusieurs fois pendant la nuit. Quelques habitudes simples peuvent faire une grande différence.",
                    "Il est conseillé de se coucher et de se lever à des heures régulières, même le week-end. La chambre doit être calme, sombre et plutôt fraîche. Il vaut mieux éviter les écrans pendant l'heure qui précède le coucher, car leur lumière peut retarder l'endormissement.",
                    "Le café et le thé sont à limiter en fin de journée. Une courte promenade après le dîner ou la lecture d'un livre aide souvent à se détendre. Si les difficultés persistent, il est préférable d'en parler à son médecin.",
                ],
            ),
        ],
    },
    "es": {
        "host": "barrio-verde.example",
        "site": "Barrio Verde",
        "nav": ["Inicio", "Noticias", "Cocina", "Hogar", "Agenda", "Contacto"],
        "pages": [
            (
                "noticias/el-huerto-comunitario-cumple-diez-anos",
                "El huerto comunitario del barrio cumple diez años",
                [
                    "Hace diez años, un grupo de vecinos decidió transformar un solar abandonado en un huerto comunitario. Hoy, más de cuarenta familias cultivan allí tomates, lechugas, pimientos y flores. El huerto se ha convertido en un lugar de encuentro para personas de todas las edades.",
                    "Cada parcela está a cargo de una familia, pero las tareas más grandes se hacen entre todos. Los sábados por la mañana se organizan jornadas de trabajo en las que se reparan las herramientas, se prepara el compost y se riegan los árboles frutales. Después, muchos se quedan a desayunar juntos bajo la higuera.",
                    "Para celebrar el aniversario, la asociación ha preparado una fiesta con música, talleres para niños y una comida popular. Todo el mundo está invitado, y quienes quieran participar en el huerto pueden apuntarse en la lista de espera.",
                ],
            ),
            (
                "cocina/como-preparar-una-tortilla-de-patatas",
                "Cómo preparar una tortilla de patatas",
                [
                    "La tortilla de patatas es uno de los platos más populares de la cocina española. Solo necesita unos pocos ingredientes: patatas, huevos, aceite de oliva, sal y, para quien le guste, cebolla. Aunque parece sencilla, tiene sus pequeños secretos.",
                    "Primero se pelan las patatas y se cortan en láminas finas. Después se fríen a fuego lento en abundante aceite hasta que estén tiernas, pero sin que lleguen a dorarse. Mientras tanto, se baten los huevos en un cuenco grande con una pizca de sal.",
                    "Cuando las patatas están listas, se escurren bien y se mezclan con el huevo batido. La mezcla se cuaja en una sartén durante unos minutos y, con ayuda de un plato, se le da la vuelta con cuidado. Lo ideal es que quede jugosa por dentro.",
                ],
            ),
            (
                "hogar/consejos-para-ahorrar-energia",
                "Consejos para ahorrar energía en casa",
                [
                    "Con la llegada del invierno, muchas familias buscan maneras de reducir la factura de la luz y la calefacción. Algunos cambios sencillos en nuestras costumbres pueden suponer un ahorro importante a lo largo del año.",
                    "Es recomendable bajar un poco la temperatura del termostato y cerrar las persianas por la noche para conservar el calor. También conviene apagar por completo los aparatos electrónicos en lugar de dejarlos en espera, ya que siguen consumiendo energía.",
                    "Las bombillas de bajo consumo duran más y gastan mucho menos que las tradicionales. Además, lavar la ropa con agua fría y aprovechar la luz natural durante el día son gestos pequeños que, sumados, marcan la diferencia.",
                ],
            ),
        ],
    },
    "it": {
        "host": "borgo-notizie.example",
        "site": "Borgo Notizie",
        "nav": ["Home", "Cronaca", "Viaggi", "Cucina", "Salute", "Contatti"],
        "pages": [
            (
                "viaggi/passeggiata-borgo-san-lorenzino",
                "Una passeggiata tra i vicoli di Borgo San Lorenzino",
                [
                    "Borgo San Lorenzino è un piccolo paese arroccato su una collina, circondato da uliveti e vigneti. Le sue strade strette e tortuose conducono a una piazza centrale dove, ogni sera, gli abitanti si ritrovano per fare due chiacchiere e prendere un caffè.",
                    "Il monumento più importante è la chiesa di pietra, costruita nel dodicesimo secolo. All'interno si possono ammirare affreschi ben conservati e un antico organo che viene ancora suonato durante le feste. Dal campanile si gode di una vista splendida sulla valle.",
                    "Chi visita il paese non può andare via senza assaggiare i prodotti locali. Nelle botteghe si trovano formaggi, salumi, olio extravergine e dolci alle mandorle preparati secondo ricette tramandate da generazioni.",
                ],
            ),
            (
                "cucina/sugo-di-pomodoro-fatto-in-casa",
                "La ricetta del sugo di pomodoro fatto in casa",
                [
                    "Il sugo di pomodoro è la base di molti piatti della cucina italiana. Prepararlo in casa è semplice e il risultato è molto più saporito di quello comprato già pronto. Bastano pochi ingredienti di buona qualità e un po' di pazienza.",
                    "In una pentola capiente si fa soffriggere uno spicchio d'aglio in olio extravergine d'oliva. Quando l'aglio diventa dorato, si aggiungono i pomodori pelati schiacciati con una forchetta, un pizzico di sale e qualche foglia di basilico fresco.",
                    "Il sugo deve cuocere a fuoco basso per almeno mezz'ora, mescolando di tanto in tanto. Alla fine si può condire la pasta appena scolata oppure conservare il sugo in frigorifero per un paio di giorni.",
                ],
            ),
            (
                "salute/lo-sport-fa-bene-a-tutte-le-eta",
                "Lo sport fa bene a tutte le età",
                [
                    "Fare attività fisica con regolarità è uno dei modi migliori per mantenersi in salute. Non è necessario diventare atleti: anche una camminata veloce di mezz'ora al giorno porta grandi benefici al cuore e all'umore.",
                    "Per chi comincia, è importante scegliere un'attività che piaccia davvero, come il nuoto, la bicicletta o il ballo. In questo modo sarà più facile non perdere la motivazione. È consigliabile iniziare con calma e aumentare lo sforzo poco alla volta.",
                    "Anche le persone anziane possono trarre vantaggio dal movimento, purché scelgano esercizi adatti alle proprie condizioni. In caso di dubbi, è sempre meglio chiedere consiglio al proprio medico prima di iniziare.",
                ],
            ),
        ],
    },
    "nl": {
        "host": "oosterwaard-nieuws.example",
        "site": "Oosterwaard Nieuws",
        "nav": ["Home", "Nieuws", "Uitgaan", "Tuin", "Cultuur", "Contact"],
        "pages": [
            (
                "uitgaan/fietsen-langs-de-dijk",
                "Fietsen langs de dijk bij Oosterwaard",
                [
                    "Wie van rust en ruimte houdt, moet zeker eens gaan fietsen langs de dijk bij Oosterwaard. De route is ongeveer vijfendertig kilometer lang en loopt grotendeels over rustige wegen, met aan de ene kant het water en aan de andere kant weilanden vol koeien en schapen.",
                    "Onderweg kom je langs een oude windmolen die op zaterdag te bezichtigen is. De molenaar vertelt graag over de geschiedenis van het gebouw en laat zien hoe het graan vroeger werd gemalen. Vlakbij ligt een klein café waar je een kop koffie met appeltaart kunt bestellen.",
                    "Houd er rekening mee dat het aan de kust flink kan waaien. Het is daarom verstandig om een windjack mee te nemen en de route te beginnen met de wind tegen, zodat je op de terugweg wind mee hebt.",
                ],
            ),
            (
                "tuin/tips-voor-een-gezonde-moestuin",
                "Tips voor een gezonde moestuin",
                [
                    "Een eigen moestuin geeft veel voldoening. Zelf gekweekte groenten smaken vaak beter dan die uit de winkel, en het werken in de buitenlucht is goed voor lichaam en geest. Met een paar eenvoudige tips kun je al snel een mooie oogst verwachten.",
                    "Kies een plek waar de planten minstens zes uur per dag zon krijgen. Verbeter de grond met compost voordat je gaat zaaien, en zorg ervoor dat je niet elk jaar dezelfde groenten op dezelfde plek zet. Zo voorkom je ziektes en blijft de bodem vruchtbaar.",
                    "Geef de planten liever één keer per week flink water dan elke dag een beetje. Een laag stro of gemaaid gras tussen de planten houdt de grond vochtig en gaat onkruid tegen.",
                ],
            ),
            (
                "cultuur/voorleesweek-in-de-bibliotheek",
                "De bibliotheek organiseert een voorleesweek",
                [
                    "Volgende week staat de bibliotheek in het teken van voorlezen. Elke middag komen vrijwilligers verhalen voorlezen aan kinderen van vier tot tien jaar. Ook ouders en grootouders zijn van harte welkom om mee te luisteren.",
                    "Op woensdag komt een bekende schrijver uit de regio vertellen over zijn nieuwe prentenboek. Na afloop kunnen de kinderen zelf een tekening maken bij het verhaal. De mooiste tekeningen worden in de bibliotheek tentoongesteld.",
                    "Deelname aan alle activiteiten is gratis, maar vanwege de beperkte ruimte is aanmelden wel verplicht. Dat kan aan de balie van de bibliotheek of via het inschrijfformulier op de website.",
                ],
            ),
        ],
    },
    "pt": {
        "host": "sobral-hoje.example",
        "site": "Sobral Hoje",
        "nav": ["Início", "Região", "Cultura", "Casa", "Saúde", "Contactos"],
        "pages": [
            (
                "cultura/feira-de-artesanato",
                "Um passeio pela feira de artesanato de Vila Nova do Sobral",
                [
                    "Todos os anos, no primeiro fim de semana de junho, a praça principal de Vila Nova do Sobral enche-se de bancas coloridas. A feira de artesanato reúne artesãos de toda a região, que trazem peças de cerâmica, cestos de vime, bordados e brinquedos de madeira.",
                    "Além das compras, há muito para ver e fazer. Os visitantes podem assistir a demonstrações de olaria, participar em oficinas para crianças e ouvir música tradicional ao fim da tarde. Muitos aproveitam também para provar os doces regionais vendidos nas pastelarias da vila.",
                    "A entrada é gratuita e a feira está aberta das dez da manhã às oito da noite. Para evitar o trânsito, a organização recomenda que os visitantes deixem o carro no parque junto à estação e sigam a pé até ao centro.",
                ],
            ),
            (
                "casa/como-cuidar-de-plantas-dentro-de-casa",
                "Como cuidar de plantas dentro de casa",
                [
                    "As plantas de interior tornam a casa mais bonita e acolhedora, mas precisam de alguns cuidados para se manterem saudáveis. O erro mais comum é regar demasiado, o que faz apodrecer as raízes.",
                    "Antes de regar, convém tocar na terra com o dedo: se estiver húmida, é melhor esperar mais uns dias. A maioria das plantas gosta de luz, mas não de sol direto durante as horas mais quentes. No inverno, é importante afastá-las dos aquecedores.",
                    "De vez em quando, vale a pena limpar o pó das folhas com um pano húmido e mudar as plantas para um vaso maior quando as raízes começam a sair pelo fundo. Com paciência e atenção, elas vão crescer durante muitos anos.",
                ],
            ),
            (
                "saude/a-importancia-do-pequeno-almoco",
                "A importância do pequeno-almoço",
                [
                    "Muitas pessoas saem de casa de manhã sem comer nada, seja por falta de tempo ou de apetite. No entanto, os especialistas lembram que uma primeira refeição equilibrada ajuda a ter mais energia e concentração ao longo do dia.",
                    "Um bom pequeno-almoço pode incluir pão integral, fruta fresca, iogurte ou leite e um pouco de queijo. Os cereais com muito açúcar devem ser evitados, porque dão energia apenas durante pouco tempo.",
                    "Para quem tem pouco tempo, uma boa ideia é preparar tudo na noite anterior. Assim, bastam alguns minutos para tomar uma refeição tranquila antes de começar o dia.",
                ],
            ),
        ],
    },
}

LANG_NAMES = {
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
}


def render_simple(
    lang: str,
    site_name: str,
    nav: list[str],
    title: str,
    paragraphs: list[str],
    url: str,
    charset: str | None,
    date: dt.date | None,
    heading_tag: str = "h1",
    body_html: str | None = None,
) -> str:
    """A small, generic news layout used for foreign-language and special pages."""
    head = _head(title, site_name, url, paragraphs[0][:120] if paragraphs else title, charset, lang)
    navhtml = "".join(f'<li><a href="/{slugify(n) or "start"}/">{esc(n)}</a></li>' for n in nav)
    body = body_html if body_html is not None else "\n".join(f"<p>{esc(p)}</p>" for p in paragraphs)
    date_html = (
        f'<p class="date"><time datetime="{date.isoformat()}">{date.isoformat()}</time></p>\n' if date else ""
    )
    title_html = f"<{heading_tag}>{esc(title)}</{heading_tag}>\n" if heading_tag else ""
    return head + (
        "<body>\n"
        f'<header><div class="logo"><a href="/">{esc(site_name)}</a></div>'
        f"<nav><ul>{navhtml}</ul></nav></header>\n"
        "<main>\n<article>\n"
        f"{title_html}{date_html}"
        f"{body}\n</article>\n</main>\n"
        f"<footer><p>&copy; 2024 {esc(site_name)}</p></footer>\n"
        "</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------------------------
# Special (planted) page content
# ----------------------------------------------------------------------------------------------

SPAM_KEYWORDS = [
    ("best-cheap-watches.example", "cheap watches"),
    ("discount-shoes-outlet.test", "discount shoes"),
    ("cheap-flights-today.example", "cheap flights"),
    ("fast-cash-loans-now.example", "fast cash loans"),
    ("replica-handbags-sale.example", "replica handbags"),
]
SPAM_TEMPLATES = [
    "Buy {kw} at the best price.",
    "The best {kw} are here.",
    "{Kw} and more {kw} for you.",
    "Order {kw} today and save on {kw}.",
    "We have the best {kw} and the cheapest {kw}.",
    "Looking for {kw}? Find {kw} here.",
    "{Kw} online, {kw} sale, {kw} deals.",
    "Top {kw} with free delivery to your door.",
    "Get {kw} now, the best {kw} to buy.",
    "Why pay more for {kw}?",
    "Cheap {kw} and the best {kw} in one place.",
    "{Kw} for everyone, {kw} for the whole family.",
    "Click here for {kw} and save.",
]

REPEATED_LINE_PAGES = [
    (
        "quickfix-plumbing.example",
        "/",
        "Quick Fix Plumbing",
        [
            "Quick Fix Plumbing has looked after homes in the county for many years.",
            "We repair leaks, boilers, radiators and blocked drains.",
            "Our engineers are friendly, careful and fully insured.",
            "We cover the whole county, seven days a week.",
        ],
        [("Call now for a free quote today.", 10), ("Same day visits are available.", 6)],
    ),
    (
        "bargain-outlet-store.test",
        "/category/shirts",
        "Shirts",
        [
            "Blue cotton shirt in a relaxed fit.",
            "White linen shirt with short sleeves.",
            "Green checked shirt for the colder months.",
            "Striped shirt made from organic cotton.",
            "Plain black shirt with a button collar.",
        ],
        [("Sold out. Check back soon for new stock.", 12), ("Free returns on all orders.", 5)],
    ),
]

REPEATED_PARA_PAGES = [
    (
        "saint-aldwyn-parish.example",
        "/notices",
        "Parish notices",
        "The parish office is closed this week while the heating is repaired. Please leave any messages in the box by the door and we will reply as soon as we can.",
        [
            "Thank you to everyone who helped with the harvest supper.",
            "The choir meets on Thursday evening in the vestry.",
            "Flowers for Sunday were given in memory of a friend.",
            "The roof fund has now reached its first target.",
            "Lost property can be collected from the porch.",
        ],
    ),
    (
        "seaview-holiday-lets.example",
        "/cottages/sea-view",
        "Sea View Cottage",
        "Sea View Cottage sleeps four and has a small garden, a wood burner and a view over the harbour. Pets are welcome and parking is free for one car outside the front door.",
        [
            "Bookings run from Saturday to Saturday in the summer.",
            "Short breaks are available at other times of the year.",
            "Bed linen and towels are included in the price.",
            "The beach is a short walk down the lane.",
            "A welcome basket is left for every guest.",
        ],
    ),
]

WEATHER_LOG_PROSE = [
    "The Harwick weather station has been run by volunteers since the old school closed, and the readings below are taken every morning at nine o'clock.",
    "March began cold and bright, with a hard frost on the first weekend, before a long spell of mild and wet weather set in from the west.",
    "Rain is given in millimetres, temperatures in degrees Celsius, pressure in hectopascals and the strongest gust of wind in kilometres per hour.",
    "The wettest day of the month brought heavy showers and strong winds, and the river rose over the towpath near the old mill for two days.",
    "The figures are sent to a national network each week, and anyone who would like to help with the readings is welcome to visit the station on a Saturday morning.",
]

BULLET_PAGES = [
    (
        "outdoor-family-notes.example",
        "/camping-checklist",
        "Camping checklist",
        [
            "A tent that has been checked for holes and missing pegs",
            "Two warm sleeping bags and a thin mat for each person",
            "A small stove with a full canister of gas",
            "Matches kept dry in a sealed plastic box",
            "A pan, a kettle and a set of plastic plates",
            "Enough drinking water for the first evening",
            "A torch for every member of the family",
            "Spare batteries for the torches and the radio",
            "Waterproof jackets and a change of warm clothes",
            "Sun cream, hats and insect repellent",
            "A basic first aid kit with plasters and bandages",
            "A map of the area and a simple compass",
            "Rubbish bags so that the site is left clean",
            "A washing up bowl, soap and a tea towel",
            "A folding chair or two for the evenings",
            "Games and a pack of cards in case of rain",
            "A bag of spare pegs and a small mallet",
            "Breakfast food that does not need a fridge",
            "A phone charger and a fully charged power bank",
            "The booking details and the address of the site",
        ],
    ),
    (
        "hollin-homes-agents.example",
        "/property/4417-three-bedroom-house",
        "Three bedroom house, Mill Road",
        [
            "Three bedrooms with fitted wardrobes",
            "A bright kitchen with a gas hob and a double oven",
            "A family bathroom with a shower over the bath",
            "A separate toilet on the ground floor",
            "Gas central heating throughout the house",
            "Double glazed windows to the front and the back",
            "A south facing rear garden with a lawn and a patio",
            "Off road parking for two cars",
            "A garage with power and lighting",
            "A short walk to the primary school and the shops",
            "Good bus links to the town centre and the station",
            "A loft that has been boarded for storage",
            "Wooden floors in the hall and the living room",
            "An open fire in the sitting room",
            "A utility room with space for a washing machine",
            "A garden shed and an outside tap",
            "No onward chain and a quick move possible",
            "Viewing is strictly by appointment with the agent",
        ],
    ),
    (
        "duxley-green-parish-council.test",
        "/meetings/agenda-march",
        "Agenda for the March meeting",
        [
            "Welcome and apologies from members who could not attend",
            "Minutes of the last meeting and matters arising",
            "Report from the treasurer on the accounts for the year",
            "Update on the repairs to the village hall roof",
            "Plans for the summer fair and the list of stalls",
            "Volunteers needed for the litter pick in the spring",
            "Request from the school to use the field for sports day",
            "Proposal to plant new trees along the footpath",
            "Report on the condition of the play area",
            "Road safety near the school and the speed of traffic",
            "Bookings for the hall and the new price list",
            "Letters received from residents since the last meeting",
            "Election of the chair and the secretary for the coming year",
            "Thanks to the volunteers who ran the winter lunches",
            "Questions from members of the public",
            "Any other business raised by members",
            "Date and time of the next meeting",
            "Close of the meeting and tea in the small hall",
        ],
    ),
]

ELLIPSIS_PAGES = [
    (
        "coastal-news-digest.example",
        "/latest",
        "Latest stories",
        [
            "The old mill wheel at Harwick turned again on Saturday for the first time since...",
            "Residents of Fennick have been asked to share their memories of the great flood of...",
            "A new bus route linking Norcott and the hospital will begin running in...",
            "Volunteers spent the weekend clearing litter from the beach near...",
            "The library is looking for readers to join a new book group that meets on...",
            "Plans for a footbridge over the river have been delayed again after...",
            "Marrowby United have signed a young goalkeeper from...",
            "The school choir will sing at the harvest supper, which takes place on...",
            "Roadworks on the coast road are expected to last until the end of...",
            "A rare bird was spotted on the salt marsh by a group of walkers who...",
            "The bakery on Mill Lane is celebrating fifty years in business with...",
            "Councillors will meet next week to discuss the future of the old...",
            "A lost dog was returned to its owners after a long search that...",
            "Tickets for the winter pantomime go on sale on Monday, and organisers say...",
            "The weather is set to turn colder by the weekend, with frost likely in...",
        ],
    ),
    (
        "allotment-chat-forum.example",
        "/forum/vegetables",
        "Vegetable growing forum",
        [
            "Has anyone else had trouble with slugs on their lettuces this…",
            "My runner beans flowered well but hardly any pods have…",
            "Looking for advice on which early potatoes do best in heavy…",
            "Is it too late to sow carrots if the weather stays mild until…",
            "We inherited a plot full of couch grass and would like to know…",
            "The leaves on my tomatoes have started to curl at the edges and…",
            "Does anyone have a good method for storing onions through the…",
            "Our water butt keeps turning green in the summer, and I wondered…",
            "What is the best way to protect young brassicas from pigeons without…",
            "I have far too many courgettes again this year, so if anybody…",
            "Thinking of building raised beds from old scaffold boards, but worried…",
            "Can garlic be planted in pots on a balcony, or does it really need…",
            "The society has asked for volunteers to help with the open day on…",
            "Found a lovely old spade at a car boot sale and wanted to ask how…",
            "Has anybody tried growing sweet potatoes outdoors this far north, because…",
        ],
    ),
    (
        "weeknight-recipe-index.test",
        "/recipes/index",
        "Recipe index",
        [
            "Our favourite lentil soup for cold evenings is quick to make and...",
            "This banana bread uses up the fruit that has gone a little too...",
            "A simple tomato sauce that keeps in the fridge for days and goes with...",
            "Roast vegetables with a honey and mustard dressing that even the children...",
            "The fish pie my grandmother made every Friday, with a crisp topping of...",
            "Oat biscuits that take ten minutes to mix and are perfect for...",
            "A warm potato salad with herbs from the garden and a sharp dressing of...",
            "Leek and potato soup made the old way, slowly and with plenty of...",
            "An apple crumble with a secret ingredient that nobody ever guesses until...",
            "Bean chilli for a crowd, cooked in one pot and served with rice or...",
            "A lemon drizzle cake that stays moist for days if you keep it in...",
            "Pumpkin soup with toasted seeds, ideal for the week after the harvest...",
            "Spinach and cheese pie with homemade pastry that is easier than...",
            "A mushroom risotto that needs patience, a wooden spoon and about...",
            "Pea and mint soup that tastes of early summer even when made with...",
        ],
    ),
]

HASHTAG_PAGES = [
    (
        "garden-snaps-daily.example",
        "/feed/march",
        "Garden snaps",
        [
            "Morning light over the allotment today.",
            "First broad beans are through the soil.",
            "Frost on the cabbages again this morning.",
            "New raised bed finished at last.",
            "The robin came to help with the digging.",
            "Seed trays lined up on the windowsill.",
            "Rhubarb is waking up under its bucket.",
            "Planted out the sweet peas by the fence.",
            "Rain all day, so we sorted the seed tin.",
            "The pond is full of frogspawn.",
            "Tulips opening by the front door.",
            "Tea break in the shed with the radio on.",
            "Potatoes chitting in egg boxes.",
            "Blossom on the old plum tree.",
        ],
        [
            "garden",
            "allotment",
            "growyourown",
            "spring",
            "gardening",
            "veggiepatch",
            "seeds",
            "organic",
            "homegrown",
            "gardenlife",
            "plotlife",
            "nofilter",
            "weekend",
            "outdoors",
            "greenfingers",
            "compost",
            "nature",
            "bloom",
        ],
    ),
    (
        "kitchen-table-posts.test",
        "/feed/week-12",
        "Kitchen table",
        [
            "Soup on the stove and bread in the oven.",
            "Sunday baking with the kids.",
            "Lemon cake for the neighbours.",
            "Trying a new curry recipe tonight.",
            "Fresh eggs from the market this morning.",
            "Pancakes for breakfast again.",
            "Leftover roast turned into a pie.",
            "Homemade jam cooling on the windowsill.",
            "First tomatoes of the year in a salad.",
            "Pizza night with friends.",
            "A warm bowl of porridge with honey.",
            "Apple crumble straight from the oven.",
            "Herbs drying by the back door.",
            "Cheese scones for the school fair.",
        ],
        [
            "food",
            "homecooking",
            "baking",
            "foodie",
            "dinner",
            "recipe",
            "yum",
            "comfortfood",
            "kitchen",
            "cooking",
            "homemade",
            "instafood",
            "eatlocal",
            "family",
            "weekend",
            "sundaylunch",
            "tasty",
            "bread",
        ],
    ),
]

SHORT_LINES = [
    [
        "Sowed the first broad beans.",
        "The soil was cold and heavy.",
        "Robins followed the spade.",
        "Moved the compost bins.",
        "Planted garlic by the fence.",
        "Cut brambles near the gate.",
        "Found slugs under a board.",
        "The shed roof needs new felt.",
        "Picked the last of the kale.",
        "Fixed the water butt tap.",
        "Rain started after lunch.",
        "Had tea with the neighbours.",
        "Swapped seeds with Edith.",
        "Netted the young cabbages.",
        "Dug over the potato bed.",
        "Spread manure on the onions.",
        "The pond has frozen over.",
        "Checked the stored apples.",
        "Two apples had gone soft.",
        "Sharpened the old hoe.",
        "Ordered seeds for spring.",
        "Tidied the tool shelves.",
        "Cut back the raspberry canes.",
        "Lifted the remaining leeks.",
        "The wind blew down a fence.",
        "Mended it with spare posts.",
        "Locked the gate at four.",
        "Walked home as it got dark.",
    ],
    [
        "Bread rises faster when warm.",
        "Cold butter makes good pastry.",
        "Onions soften in ten minutes.",
        "Salt brings out sweetness.",
        "Sharp knives are safer.",
        "Rest the meat before carving.",
        "Lemons brighten heavy stews.",
        "Toast spices in a dry pan.",
        "Taste before adding salt.",
        "Soup tastes better next day.",
        "Rinse rice before cooking it.",
        "Freeze bread in slices.",
        "Keep herbs in a jar of water.",
        "Bananas ripen next to apples.",
        "Store brown sugar in a tin.",
        "Boil eggs for seven minutes.",
        "Peel ginger with a teaspoon.",
        "Keep potatoes in the dark.",
        "Add pasta to boiling water.",
        "Save some pasta water.",
        "Lids make water boil sooner.",
        "Clean as you cook.",
        "Label every jar you fill.",
        "Cool food before freezing it.",
        "Use old bread for crumbs.",
        "Chill onions before chopping.",
        "Warm plates before serving.",
        "Share leftovers with friends.",
    ],
]

JS_NOTICE_PAGES = [
    (
        "coast-road-courier.example",
        "/news/ferry-timetable",
        "Reader notice",
        [
            "Please enable JavaScript in your browser to read the full story.",
            "This website uses cookies to remember your choices and to count visits.",
            "By continuing to browse, you accept our privacy policy and our terms of use.",
            "Your browser does not support JavaScript, so parts of this page cannot be shown.",
            "We use cookies from our partners to show you relevant offers.",
            "You can change your choices at any time in the cookie policy settings.",
            "The story about the new ferry timetable will appear here once the page has loaded.",
            "We are sorry for the trouble and thank you for your patience.",
        ],
    ),
    (
        "town-events-listings.test",
        "/events/spring-concert",
        "Event details",
        [
            "JavaScript must be enabled to see the event details and book tickets.",
            "Turn on JavaScript in your browser settings and then reload this page.",
            "This site uses cookies to keep you signed in and to measure traffic.",
            "Our cookie policy explains which cookies we set and why we set them.",
            "By using the site you agree to the terms of use and the privacy policy.",
            "The spring concert will be held in the town hall.",
            "Doors open at seven in the evening.",
        ],
    ),
    (
        "fennick-swim-club.example",
        "/members/timetable",
        "Member area",
        [
            "Sorry, this part of the website needs JavaScript to work properly.",
            "Please switch JavaScript on, or ask a club volunteer for a printed copy.",
            "We use cookies so that members do not have to sign in on every page.",
            "Read the privacy policy to see how we look after your details.",
            "Read the terms of use before booking a lane.",
            "The new pool timetable starts after the half term holiday.",
            "Lane swimming will move to the early morning sessions.",
        ],
    ),
]

FEW_SENTENCE_PAGES = [
    (
        "harwick-council-notices.example",
        "/notices/coast-road-closure",
        "Road closure",
        [
            "The coast road between Harwick and Fennick will be closed to all traffic from Monday morning until the end of the month while the council repairs the stretch of sea wall that was damaged in the winter storms.",
            "Drivers are advised to follow the signed diversion through Norcott and Tillingham, which will add about twenty minutes to most journeys.",
            "Buses will continue to run on the diversion route, although some of the smaller stops along the coast road will not be served until the work has been completed.",
        ],
    ),
    (
        "marrowby-library-friends.test",
        "/news/annual-meeting",
        "Annual meeting",
        [
            "The Friends of Marrowby Library will hold their annual meeting in the reading room on the first Thursday of next month, starting at half past seven, and every member of the library is welcome to come along.",
            "The committee will report on the book sales and the summer reading challenge, and members will be asked to vote on plans for a new garden behind the building.",
            "Tea, coffee and homemade biscuits will be served after the meeting, and there will be plenty of time to talk with the volunteers who run the events programme.",
        ],
    ),
]

PULL_QUOTES = [
    "Nobody in the town had seen anything quite like it before.",
    "It was the kind of afternoon people talk about for years.",
]

LOREM_PARAGRAPHS = [
    "Lorem ipsum dolor sit amet, textus futurus hic ponetur cum articulus paratus erit. Verba vera mox venient, sed nunc tantum forma paginae ostenditur.",
    "Lorem ipsum dolor sit amet, imago et titulus desunt, et editor hanc partem postea mutabit. Quaeso ne hunc textum legas.",
]

CURLY_SENTENCES = [
    "The newsletter template replaces {first_name} with each volunteer's name before the message is sent.",
    "The publisher's first press release still contained the placeholder {author_bio} where the biography should have been.",
]

C4_KEEP_LINES = [
    [
        "Please enable JavaScript to view the comments on this article.",
        "This site uses cookies to count visitors and remember your settings.",
    ],
    [
        "JavaScript is needed to play the match highlights video.",
        "Read our cookie policy for details of how we measure visits.",
    ],
]

VERY_SHORT_PAGES = [
    ("new-corner-bakery.example", "/", "<main><p>Coming soon.</p></main>"),
    ("lowmoor-bowls-club.test", "/", "<main><h1>Under construction</h1></main>"),
    ("my-first-homepage.example", "/index.html", "<p>Hello world!</p>"),
]

EMPTY_PAGES = [
    ("blank-page-host.example", "/", "<body></body>"),
    (
        "single-page-app.test",
        "/dashboard",
        '<body><div id="root"></div><script src="/static/js/bundle.8f3a.js"></script>'
        "<style>#root{min-height:100vh}</style></body>",
    ),
]

PRODUCT_CATEGORIES = [
    "Garden Tools",
    "Kitchen Knives",
    "Outdoor Lighting",
    "Bath Towels",
    "Bed Linen",
    "Desk Lamps",
    "Picture Frames",
    "Storage Boxes",
    "Coffee Makers",
    "Baking Trays",
    "Plant Pots",
    "Door Mats",
    "Wall Clocks",
    "Curtain Poles",
    "Rugs",
    "Cushions",
    "Candles",
    "Vases",
    "Mirrors",
    "Shelving",
    "Office Chairs",
    "Bookcases",
    "Wardrobes",
    "Sofas",
    "Dining Tables",
    "Bar Stools",
    "Hammocks",
    "Barbecues",
    "Fire Pits",
    "Bird Feeders",
    "Sheds",
    "Greenhouses",
    "Hoses",
    "Lawn Mowers",
    "Paint",
    "Brushes",
    "Ladders",
    "Drills",
    "Screwdrivers",
    "Tool Boxes",
    "Light Bulbs",
    "Extension Leads",
    "Smoke Alarms",
    "Fans",
    "Heaters",
    "Kettles",
    "Toasters",
    "Blenders",
    "Saucepans",
    "Frying Pans",
    "Mugs",
    "Glasses",
    "Cutlery",
    "Plates",
    "Bowls",
    "Tea Towels",
    "Aprons",
    "Oven Gloves",
    "Lunch Boxes",
    "Water Bottles",
]

PII_SPECS = [
    # (topic, inserted paragraph, pii dict)
    (
        "community",
        "To book a stall, e-mail the organiser at maria.lindqvist@harwick-fair.example or phone (555) 014-2368 between nine and five on weekdays. Stallholders travelling from our twin town can call the twinning committee on +44 20 7946 0321, and questions about parking can go to parking@harwick-fair.example.",
        {
            "emails": ["maria.lindqvist@harwick-fair.example", "parking@harwick-fair.example"],
            "phones": ["(555) 014-2368", "+44 20 7946 0321"],
        },
    ),
    (
        "tech",
        "Many routers let you choose a public resolver, such as 1.1.1.1 or 8.8.8.8, instead of the one your provider sets. On networks that use IPv6, the same services answer at 2606:4700:4700::1111 and 2001:4860:4860::8888. The router itself usually sits at a private address such as 192.168.1.1, which only works inside your home.",
        {
            "ipv4_public": ["1.1.1.1", "8.8.8.8"],
            "ipv6_public": ["2606:4700:4700::1111", "2001:4860:4860::8888"],
            "ipv4_private": ["192.168.1.1"],
        },
    ),
    (
        "finance",
        "Online shops test their checkout with well-known dummy numbers, such as the card number 4111 1111 1111 1111 or 5500 0000 0000 0004, which belong to no real account. A mistyped number such as 4111 1111 1111 1112 fails the check digit test and is rejected at once. Never type your own card number into an email, and report anything suspicious to fraud-team@pennywise-bank.example straight away.",
        {
            "cards_luhn_valid": ["4111 1111 1111 1111", "5500 0000 0000 0004"],
            "cards_luhn_invalid": ["4111 1111 1111 1112"],
            "emails": ["fraud-team@pennywise-bank.example"],
        },
    ),
    (
        "travel",
        "To reserve a room at the guest house by the station, write to bookings@station-guesthouse.example or call +1 555 013 4477 from North America. Guests arriving from Australia can use the local agent on +61 2 5550 1234, and the tourist office answers on 555-014-9920.",
        {
            "emails": ["bookings@station-guesthouse.example"],
            "phones": ["+1 555 013 4477", "+61 2 5550 1234", "555-014-9920"],
        },
    ),
    (
        "books",
        "Readers who want a signed copy can contact the shop at j.okafor@quietshelf-books.example, or ring +44 161 496 0753 on weekday mornings. Book clubs asking for a visit from the author should write to events+author@quietshelf-books.example.",
        {
            "emails": ["j.okafor@quietshelf-books.example", "events+author@quietshelf-books.example"],
            "phones": ["+44 161 496 0753"],
        },
    ),
    (
        "sports",
        "The club's public computers in the clubhouse use the resolver at 9.9.9.9, and the clubhouse Wi-Fi also answers over IPv6 at 2620:fe::fe. Members with questions about the ticket system can write to tickets@rovers-club.example or call the office on (555) 010-9876.",
        {
            "ipv4_public": ["9.9.9.9"],
            "ipv6_public": ["2620:fe::fe"],
            "emails": ["tickets@rovers-club.example"],
            "phones": ["(555) 010-9876"],
        },
    ),
]

ENCODING_SENTENCES = {
    "windows-1252": "The café scene in chapter four, where the narrator shares a crème brûlée with an old friend, is “quietly wonderful” — and only a little naïve.",
    "iso-8859-1": "The stall outside the old café, with its freshly painted façade, will sell jalapeño chutney and crème fraîche scones.",
    "none": "The new signing, Zoë Ångström, impressed on her début and was cheered off the pitch.",
    "invalid": "Prices quoted in euros, such as €40 for a season ticket, are converted at the daily rate.",
    "wrong": "Volunteers at the café will serve soup, bread and a generous crème brûlée for pudding.",
}


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def tiny_png(width: int, height: int, rgb: tuple[int, int, int], seed: int) -> bytes:
    """A valid, small PNG made with zlib (a coloured square with a simple pattern)."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            shade = (x * 7 + y * 13 + seed) % 32
            row += bytes(min(255, c + shade) for c in rgb)
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


# ----------------------------------------------------------------------------------------------
# Page assembly
# ----------------------------------------------------------------------------------------------


@dataclass
class Page:
    url: str
    body: bytes
    case: str
    expected: str
    status: str = "200 OK"
    content_type: str | None = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    placement: str = "any"  # any | first (file 0, early) | later (file 1 or 2) | truncate
    identified_type: str | None = "text/html"
    text: str | None = None  # the main text as written (for README statistics)


# Regular articles per topic (the planted cases below add more English articles).
ARTICLE_PLAN = {
    "cooking": 17,
    "gardening": 16,
    "history": 16,
    "travel": 15,
    "science": 12,
    "sports": 26,
    "books": 20,
    "finance": 20,
    "howto": 12,
    "weather": 18,
    "pets": 8,
    "community": 16,
    "tech": 6,
    "fitness": 8,
}

# Filter order assumed for "expected" (the FineWeb recipe): each planted filter case fails the
# named filter and passes every filter before it.
FILTER_ORDER = ["url", "language", "gopher_repetition", "gopher_quality", "c4", "fineweb"]


class PageBuilder:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.binder = Binder(rng)
        # The "home wireless networks" explainer is reserved for the IP-address PII page.
        self.binder.decks["tech"].items.remove("home wireless networks")
        self.pages: list[Page] = []
        self.urls: set[str] = set()
        self.titles_by_host: dict[str, list[tuple[str, str]]] = {}

    # -- helpers ---------------------------------------------------------------------------
    def add(self, page: Page) -> Page:
        if page.url in self.urls:
            raise ValueError(f"duplicate URL {page.url}")
        self.urls.add(page.url)
        self.pages.append(page)
        return page

    def unique_url(self, url: str) -> str:
        base, n = url, 2
        while url in self.urls:
            if base.endswith("/"):
                url = base[:-1] + f"-{n}/"
            elif base.endswith(".html"):
                url = base[:-5] + f"-{n}.html"
            else:
                url = f"{base}-{n}"
            n += 1
        return url

    def article(self, topic: str, min_words: int = 0, force: str | None = None):
        for _ in range(50):
            if force is not None:
                self.binder.decks["tech"].stack.append(force)
            art, secs = build_article(self.rng, self.binder, topic)
            if art.word_count() >= min_words:
                return art, secs
        raise RuntimeError("could not build a long enough article")

    def related(self, host: str, exclude: str) -> list[tuple[str, str]]:
        pool = [tu for tu in self.titles_by_host.get(host, []) if tu[1] != exclude]
        return self.rng.sample(pool, min(4, len(pool)))

    def html_page(
        self,
        url: str,
        html_text: str,
        case: str,
        expected: str,
        charset: str = "utf-8",
        declared: str | None = "utf-8",
        **kw,
    ) -> Page:
        ctype = f"text/html; charset={declared}" if declared else "text/html"
        return Page(url, html_text.encode(charset), case, expected, content_type=ctype, **kw)

    def render(self, host: str, art: Article, secs: list[Section], url: str, **kw) -> str:
        return render_article(SITES[host], art, secs, url, self.rng, self.related(host, url), **kw)

    # -- regular articles --------------------------------------------------------------------
    def regular_articles(self) -> None:
        plan = []
        for topic in sorted(ARTICLE_PLAN):
            plan += [topic] * ARTICLE_PLAN[topic]
        self.rng.shuffle(plan)
        built = []
        for topic in plan:
            art, secs = self.article(topic)
            host = self.rng.choice(TOPIC_SITES[topic])
            url = self.unique_url(article_url(SITES[host], art, self.rng, topic))
            self.urls.add(url)
            self.titles_by_host.setdefault(host, []).append((art.title, url))
            built.append((topic, host, url, art, secs))
        for topic, host, url, art, secs in built:
            self.urls.discard(url)
            self.add(
                self.html_page(
                    url,
                    self.render(host, art, secs, url),
                    "article",
                    "keep",
                    info={"topic": topic},
                    text=art.text,
                )
            )

    def english_article_page(
        self,
        topic: str,
        host: str | None = None,
        url: str | None = None,
        min_words: int = 0,
        insert: list[tuple[int, str]] | None = None,
        force: str | None = None,
    ):
        art, secs = self.article(topic, min_words, force)
        if insert:
            for pos, para in insert:
                # insert into the body section that holds paragraph index `pos`
                count = 0
                for s in secs:
                    if count + len(s.paragraphs) > pos or s is secs[-1]:
                        s.paragraphs.insert(max(0, pos - count), para)
                        break
                    count += len(s.paragraphs)
            art.paragraphs = [p for s in secs for p in s.paragraphs]
        host = host or self.rng.choice(TOPIC_SITES[topic])
        url = url or self.unique_url(article_url(SITES[host], art, self.rng, topic))
        return art, secs, host, url

    # -- planted cases -------------------------------------------------------------------
    def dedup_groups(self) -> None:
        rng = self.rng
        # G1: exact duplicate bytes, served under a tracking-parameter URL and a www. mirror.
        art, secs, host, url = self.english_article_page("cooking", "kitchen-notes.example", min_words=500)
        body = self.render(host, art, secs, url)
        self.add(
            self.html_page(
                url,
                body,
                "dup_exact_original",
                "keep",
                placement="first",
                info={"dup_group": "exact-1", "role": "original"},
                text=art.text,
            )
        )
        for copy_url in (
            url + "?utm_source=newsletter&utm_medium=email",
            url.replace("https://", "https://www."),
        ):
            self.add(
                self.html_page(
                    copy_url,
                    body,
                    "dup_exact_copy",
                    "dedup",
                    placement="later",
                    info={"dup_group": "exact-1", "dup_of": url},
                    text=art.text,
                )
            )
        # G2: exact duplicate bytes under an /amp/ path.
        art, secs, host, url = self.english_article_page("travel", "wandering-map.example", min_words=500)
        body = self.render(host, art, secs, url)
        self.add(
            self.html_page(
                url,
                body,
                "dup_exact_original",
                "keep",
                placement="first",
                info={"dup_group": "exact-2", "role": "original"},
                text=art.text,
            )
        )
        amp = url.replace("/blog/", "/amp/blog/")
        self.add(
            self.html_page(
                amp,
                body,
                "dup_exact_copy",
                "dedup",
                placement="later",
                info={"dup_group": "exact-2", "dup_of": url},
                text=art.text,
            )
        )
        # G3: the same article text syndicated by another site and as a print version
        # (different HTML, identical main text).
        art, secs, host, url = self.english_article_page("history", "harwick-gazette.example", min_words=500)
        self.add(
            self.html_page(
                url,
                self.render(host, art, secs, url),
                "dup_same_text_original",
                "keep",
                placement="first",
                info={"dup_group": "text-3", "role": "original"},
                text=art.text,
            )
        )
        synd = f"https://marrowby-courier.example/story/{rng.randint(10000, 99999)}-{slugify(art.title)}"
        self.add(
            self.html_page(
                synd,
                self.render("marrowby-courier.example", art, secs, synd),
                "dup_same_text_other_layout",
                "dedup",
                placement="later",
                info={"dup_group": "text-3", "dup_of": url},
                text=art.text,
            )
        )
        printer = url.replace("harwick-gazette.example/", "harwick-gazette.example/print/")
        self.add(
            self.html_page(
                printer,
                self.render("quietshelf-reviews.example", art, secs, printer).replace(
                    "The Quiet Shelf", "The Harwick Gazette (print edition)"
                ),
                "dup_same_text_print_version",
                "dedup",
                placement="later",
                info={"dup_group": "text-3", "dup_of": url},
                text=art.text,
            )
        )
        # G4-G6: near duplicates (other layout, other date, a word or two changed, a line added).
        for group, topic, host, other_hosts in (
            (
                "near-4",
                "community",
                "harwick-gazette.example",
                ["marrowby-courier.example", "harwick-gazette.example"],
            ),
            ("near-5", "gardening", "greenthumb-journal.example.org", ["marrowby-courier.example"]),
            ("near-6", "books", "quietshelf-reviews.example", ["harwick-gazette.example"]),
        ):
            art, secs, host, url = self.english_article_page(topic, host, min_words=520)
            self.add(
                self.html_page(
                    url,
                    self.render(host, art, secs, url),
                    "near_dup_original",
                    "keep",
                    placement="first",
                    info={"dup_group": group, "role": "original"},
                    text=art.text,
                )
            )
            for i, other in enumerate(other_hosts):
                v_art, v_secs, changes = near_duplicate(art, secs, rng, i)
                site = SITES[other]
                v_url = self.unique_url(
                    article_url(site, v_art, rng, topic).replace(
                        slugify(art.title), slugify(art.title) + ("-updated" if i else "")
                    )
                )
                self.add(
                    self.html_page(
                        v_url,
                        self.render(other, v_art, v_secs, v_url),
                        "near_dup_variant",
                        "dedup",
                        placement="later",
                        info={"dup_group": group, "dup_of": url, "changes": changes},
                        text=v_art.text,
                    )
                )

    def pii_pages(self) -> None:
        for topic, para, pii in PII_SPECS:
            assert all(luhn_ok(c) for c in pii.get("cards_luhn_valid", []))
            assert not any(luhn_ok(c) for c in pii.get("cards_luhn_invalid", []))
            assert all(x in para for v in pii.values() for x in v)
            force = "home wireless networks" if topic == "tech" else None
            art, secs, host, url = self.english_article_page(topic, insert=[(2, para)], force=force)
            self.add(
                self.html_page(
                    url,
                    self.render(host, art, secs, url),
                    "pii",
                    "pii",
                    info={"pii": pii, "topic": topic},
                    text=art.text,
                )
            )

    def encoding_pages(self) -> None:
        specs = [
            (
                "books",
                "windows-1252",
                "windows-1252",
                "windows-1252",
                "enc_windows_1252",
                ["crème brûlée", "naïve"],
            ),
            ("community", "iso-8859-1", "iso-8859-1", "iso-8859-1", "enc_iso_8859_1", ["façade", "jalapeño"]),
            ("sports", "none", "utf-8", None, "enc_no_charset_utf8", ["début", "Zoë"]),
            ("finance", "invalid", "utf-8", "utf-8lol", "enc_invalid_charset_label", []),
            ("community", "wrong", "windows-1252", "utf-8", "enc_wrong_charset_declared", []),
        ]
        for topic, key, real, declared, case, must in specs:
            sentence = ENCODING_SENTENCES[key]
            art, secs, host, url = self.english_article_page(topic, insert=[(1, sentence)])
            body = self.render(host, art, secs, url, charset=declared)
            ascii_part = (
                "converted at the daily rate"
                if key == "invalid"
                else ("will serve soup, bread and a generous" if key == "wrong" else None)
            )
            info = {
                "encoding": real,
                "declared_charset": declared,
                "must_contain": must + ([ascii_part] if ascii_part else []),
            }
            self.add(
                self.html_page(
                    url, body, case, "keep", charset=real, declared=declared, info=info, text=art.text
                )
            )

    def language_pages(self) -> None:
        for lang in sorted(FOREIGN):
            spec = FOREIGN[lang]
            for i, (path, title, paras) in enumerate(spec["pages"]):
                url = f"https://{spec['host']}/{path}"
                charset, declared = "utf-8", "utf-8"
                if lang == "fr" and i == 0:
                    charset = declared = "iso-8859-1"
                if lang == "de" and i == 0:
                    charset = declared = "windows-1252"
                date = dt.date(2024, 1, 8) + dt.timedelta(days=self.rng.randint(0, 50))
                body = render_simple(lang, spec["site"], spec["nav"], title, paras, url, declared, date)
                info = {"language": lang, "language_name": LANG_NAMES[lang]}
                if charset != "utf-8":
                    info["encoding"] = charset
                    info["must_contain"] = ["Frühling"] if lang == "de" else ["légumes"]
                self.add(
                    self.html_page(
                        url,
                        body,
                        f"language_{lang}",
                        "filter:language",
                        charset=charset,
                        declared=declared,
                        info=info,
                        text="\n".join([title] + paras),
                    )
                )

    def url_filter_pages(self) -> None:
        specs = [
            ("xxx-hot-videos.example", "finance"),
            ("free-porn-clips.example", "community"),
            ("casino-adult-xxx.example", "sports"),
            ("adult-xxx-chat.test", "books"),
            ("porn-gallery-free.example.org", "finance"),
        ]
        for host, topic in specs:
            art, secs, _, _ = self.english_article_page(topic)
            url = f"https://{host}/{slugify(art.title)}"
            site = Site(
                host,
                host.split(".")[0].replace("-", " ").title(),
                "Members only",
                "magazine",
                ["Home", "New", "Popular", "Members"],
                "blog",
                "nginx",
            )
            body = render_article(site, art, secs, url, self.rng, [])
            self.add(
                self.html_page(
                    url,
                    body,
                    "url_blocklist",
                    "filter:url",
                    info={"note": "benign text; only the made-up host name is adult-looking"},
                    text=art.text,
                )
            )

    def spam_pages(self) -> None:
        for host, kw in SPAM_KEYWORDS:
            paras = []
            for _ in range(3):
                sents = [
                    t.replace("{kw}", kw).replace("{Kw}", kw.capitalize())
                    for t in (self.rng.choice(SPAM_TEMPLATES) for _ in range(14))
                ]
                paras.append(" ".join(sents))
            title = f"{kw.title()} - Best {kw.title()} Online"
            url = f"https://{host}/"
            html_text = render_simple(
                "en", title, ["Home", kw.title(), "Deals", "Contact"], title, paras, url, "utf-8", None
            )
            html_text = html_text.replace(
                "<head>\n", f'<head>\n<meta name="keywords" content="{kw}, {kw} sale, best {kw}">\n', 1
            )
            self.add(
                self.html_page(
                    url,
                    html_text,
                    "spam_keyword_stuffing",
                    "filter:gopher_repetition",
                    info={"signal": "top_n_gram / duplicated n-grams"},
                    text="\n".join(paras),
                )
            )

    def repetition_pages(self) -> None:
        for host, path, title, unique, repeated in REPEATED_LINE_PAGES:
            lines = list(unique)
            for line, n in repeated:
                lines += [line] * n
            self.rng.shuffle(lines)
            url = f"https://{host}{path}"
            html_text = render_simple(
                "en", title, ["Home", "Services", "Contact"], title, lines, url, "utf-8", None, heading_tag=""
            )
            self.add(
                self.html_page(
                    url,
                    html_text,
                    "repeated_lines",
                    "filter:gopher_repetition",
                    info={"signal": "dup_line_frac"},
                    text="\n".join(lines),
                )
            )
        for host, path, title, para, others in REPEATED_PARA_PAGES:
            paras = [para]
            for o in others:  # repeats are interleaved: trafilatura collapses consecutive duplicates
                paras += [o, para]
            url = f"https://{host}{path}"
            html_text = render_simple(
                "en", title, ["Home", "News", "Contact"], title, paras, url, "utf-8", None, heading_tag=""
            )
            self.add(
                self.html_page(
                    url,
                    html_text,
                    "repeated_paragraphs",
                    "filter:gopher_repetition",
                    info={"signal": "dup_line_frac / dup_line_char_frac"},
                    text="\n".join(paras),
                )
            )

    def gopher_quality_pages(self) -> None:
        for host, path, title, items in BULLET_PAGES:
            url = f"https://{host}{path}"
            ul = "<ul>\n" + "\n".join(f"<li>{esc(i)}</li>" for i in items) + "\n</ul>"
            html_text = render_simple(
                "en", title, ["Home", "Blog", "About"], title, [], url, "utf-8", None, body_html=ul
            )
            self.add(
                self.html_page(
                    url,
                    html_text,
                    "bullet_lines",
                    "filter:gopher_quality",
                    info={"signal": "bullet_lines_ratio"},
                    text="\n".join(items),
                )
            )
        for host, path, title, lines in ELLIPSIS_PAGES:
            url = f"https://{host}{path}"
            html_text = render_simple(
                "en", title, ["Home", "Latest", "Archive"], title, lines, url, "utf-8", None, heading_tag=""
            )
            self.add(
                self.html_page(
                    url,
                    html_text,
                    "ellipsis_lines",
                    "filter:gopher_quality",
                    info={"signal": "ellipsis_lines_ratio"},
                    text="\n".join(lines),
                )
            )
        for host, path, title, posts, tags in HASHTAG_PAGES:
            lines = []
            for p in posts:
                chosen = self.rng.sample(tags, self.rng.randint(3, 5))
                lines.append(p + " " + " ".join("#" + t for t in chosen))
            url = f"https://{host}{path}"
            html_text = render_simple(
                "en", title, ["Feed", "Photos", "About"], title, lines, url, "utf-8", None, heading_tag=""
            )
            self.add(
                self.html_page(
                    url,
                    html_text,
                    "hashtag_symbols",
                    "filter:gopher_quality",
                    info={"signal": "symbol_word_ratio (#)"},
                    text="\n".join(lines),
                )
            )
        # a weather log: most words are numbers or punctuation, framed by enough English prose
        # that language ID still says English
        lines = list(WEATHER_LOG_PROSE[:3])
        for d in range(1, 32):
            rain = self.rng.randint(0, 150) / 10
            hi = self.rng.randint(60, 160) / 10
            lo = self.rng.randint(-30, 60) / 10
            lines.append(
                f"{d} March: rain {rain} mm, high {hi}, low {lo}, pressure {self.rng.randint(985, 1035)}, "
                f"wind {self.rng.randint(3, 45)}."
            )
        lines += WEATHER_LOG_PROSE[3:]
        url = "https://harwick-weather-station.example/logs/2024-03"
        html_text = render_simple(
            "en",
            "Harwick Weather Station",
            ["Home", "Logs", "Volunteers"],
            "March readings",
            lines,
            url,
            "utf-8",
            None,
            heading_tag="",
        )
        self.add(
            self.html_page(
                url,
                html_text,
                "numeric_table",
                "filter:gopher_quality",
                info={"signal": "alpha_words_ratio (fewer than 80% of words contain a letter)"},
                text="\n".join(lines),
            )
        )

    def c4_pages(self) -> None:
        for i, para in enumerate(LOREM_PARAGRAPHS):
            art, secs, host, url = self.english_article_page(["books", "community"][i], insert=[(2, para)])
            self.add(
                self.html_page(
                    url,
                    self.render(host, art, secs, url),
                    "lorem_ipsum_placeholder",
                    "filter:c4",
                    info={"signal": "lorem_ipsum"},
                    text=art.text,
                )
            )
        for i, sent in enumerate(CURLY_SENTENCES):
            art, secs, host, url = self.english_article_page(["community", "books"][i], insert=[(3, sent)])
            self.add(
                self.html_page(
                    url,
                    self.render(host, art, secs, url),
                    "curly_bracket",
                    "filter:c4",
                    info={"signal": "curly_bracket"},
                    text=art.text,
                )
            )
        for host, path, title, lines in JS_NOTICE_PAGES:
            url = f"https://{host}{path}"
            html_text = render_simple(
                "en", title, ["Home", "News", "Events"], title, lines, url, "utf-8", None
            )
            self.add(
                self.html_page(
                    url,
                    html_text,
                    "javascript_cookie_notice",
                    "filter:c4",
                    info={"signal": "too_few_sentences after javascript/policy lines are removed"},
                    text="\n".join(lines),
                )
            )
        for host, path, title, sents in FEW_SENTENCE_PAGES:
            url = f"https://{host}{path}"
            html_text = render_simple(
                "en", title, ["Home", "Notices"], title, [" ".join(sents)], url, "utf-8", None
            )
            self.add(
                self.html_page(
                    url,
                    html_text,
                    "too_few_sentences",
                    "filter:c4",
                    info={"signal": "too_few_sentences"},
                    text=" ".join(sents),
                )
            )
        for i, lines in enumerate(C4_KEEP_LINES):
            topic = ["sports", "finance"][i]
            art, secs, host, url = self.english_article_page(topic, insert=[(2, lines[0]), (5, lines[1])])
            self.add(
                self.html_page(
                    url,
                    self.render(host, art, secs, url),
                    "c4_lines_removed",
                    "keep",
                    info={
                        "c4_removed_lines": lines,
                        "note": "kept, but C4 line filters should drop these two lines",
                    },
                    text=art.text,
                )
            )

    def fineweb_pages(self) -> None:
        hosts = ["allotment-diary.example", "kitchen-scraps-notes.test"]
        titles = ["Allotment diary, February", "Kitchen notes to myself"]
        for host, title, lines in zip(hosts, titles, SHORT_LINES, strict=True):
            for line in lines:
                assert len(line) <= 30 and len(line.split()) >= 3, line
            url = f"https://{host}/{slugify(title)}"
            html_text = render_simple(
                "en", title, ["Home", "Diary", "About"], title, lines, url, "utf-8", None, heading_tag=""
            )
            self.add(
                self.html_page(
                    url,
                    html_text,
                    "short_lines",
                    "filter:fineweb",
                    info={"signal": "short_line_ratio"},
                    text="\n".join(lines),
                )
            )
        for i, quote in enumerate(PULL_QUOTES):
            topic = ["sports", "books"][i]
            art, secs, host, url = self.english_article_page(
                topic, insert=[(1, quote), (4, quote), (7, quote)]
            )
            self.add(
                self.html_page(
                    url,
                    self.render(host, art, secs, url),
                    "duplicated_line",
                    "filter:fineweb",
                    info={"signal": "char_dup_ratio", "repeated_line": quote},
                    text=art.text,
                )
            )

    def extract_pages(self) -> None:
        for host, path, body in EMPTY_PAGES:
            url = f"https://{host}{path}"
            html_text = f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Loading</title>\n</head>\n{body}\n</html>\n'
            self.add(self.html_page(url, html_text, "empty_body", "extract", text=""))
        for host, path, body in VERY_SHORT_PAGES:
            url = f"https://{host}{path}"
            html_text = f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Welcome</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n'
            self.add(
                self.html_page(
                    url,
                    html_text,
                    "very_short",
                    "filter:gopher_quality",
                    info={
                        "signal": "fewer than 50 words",
                        "also_ok": ["extract", "filter:language", "filter:gopher_repetition"],
                        "note": "with datatrove defaults a text this short also trips the "
                        "Gopher top-2-gram check, which runs first",
                    },
                    text="",
                )
            )
        specs = [
            ("homeware-superstore.example", "/departments", "Departments"),
            ("homeware-superstore.example", "/sitemap", "Sitemap"),
            ("useful-links-directory.test", "/links", "Links"),
            ("old-forum-archive.example", "/archive", "Archive"),
        ]
        for idx, (host, path, title) in enumerate(specs):
            url = f"https://{host}{path}"
            cats = list(PRODUCT_CATEGORIES)
            self.rng.shuffle(cats)
            if idx == 3:
                cats = [f"{MONTHS[m]} {y}" for y in range(2012, 2024) for m in range(12)]
            elif idx == 2:
                cats = [
                    f"{w} {v}"
                    for w in ("Harwick", "Fennick", "Norcott", "Quillsby", "Marrowby")
                    for v in (
                        "Library",
                        "Council",
                        "Museum",
                        "Swimming Pool",
                        "Allotments",
                        "Bus Times",
                        "Schools",
                        "Clubs",
                    )
                ]
            menu = "".join(f'<li><a href="/{slugify(c)}">{esc(c)}</a></li>' for c in cats)
            foot = " ".join(f'<a href="/{slugify(c)}/offers">{esc(c)} Offers</a>' for c in cats[:20])
            html_text = (
                f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n</head>\n'
                f'<body>\n<header><a href="/">Home</a> <a href="/basket">Basket (0)</a> <a href="/account">Account</a></header>\n'
                f'<nav class="mega"><ul>{menu}</ul></nav>\n'
                f'<div class="crumbs"><a href="/">Home</a> / {title}</div>\n'
                f"<main><h1>{title}</h1><p>Choose a department.</p></main>\n"
                f"<aside><h3>Popular</h3><ul>{menu[:1500].rsplit('<li>', 1)[0]}</ul></aside>\n"
                f"<footer>{foot} <p>&copy; 2024</p></footer>\n</body>\n</html>\n"
            )
            self.add(
                self.html_page(
                    url,
                    html_text,
                    "boilerplate_only",
                    "filter:gopher_quality",
                    info={
                        "signal": "fewer than 50 words of main text, no stop words",
                        "also_ok": ["extract", "filter:language", "filter:gopher_repetition"],
                        "note": "with datatrove defaults a text this short also trips the "
                        "Gopher top-2-gram check, which runs first",
                    },
                    text="",
                )
            )

    def non_html_pages(self) -> None:
        robots = (
            "User-agent: *\nDisallow: /admin/\nDisallow: /search\nAllow: /\n\n"
            "User-agent: BadBot\nDisallow: /\n\nSitemap: https://{host}/sitemap.xml\n"
        )
        for host in ("harwick-gazette.example", "kitchen-notes.example", "wandering-map.example"):
            self.add(
                Page(
                    f"https://{host}/robots.txt",
                    robots.replace("{host}", host).encode(),
                    "robots_txt",
                    "crawl:non_html",
                    content_type="text/plain; charset=utf-8",
                    identified_type="text/plain",
                    placement="robots",
                )
            )
        pngs = [
            ("https://harwick-gazette.example/static/img/logo.png", (30, 60, 120), 1, 24),
            ("https://kitchen-notes.example/wp-content/uploads/2023/11/soup-thumb.png", (180, 90, 40), 2, 32),
        ]
        for url, rgb, seed, size in pngs:
            self.add(
                Page(
                    url,
                    tiny_png(size, size, rgb, seed),
                    "image_png",
                    "crawl:non_html",
                    content_type="image/png",
                    identified_type="image/png",
                    headers=[("Cache-Control", "max-age=31536000")],
                )
            )
        redirects = [
            ("http://harwick-gazette.example/", "https://harwick-gazette.example/"),
            (
                "https://kitchen-notes.example/recipes/old-lentil-soup",
                "https://kitchen-notes.example/recipes/",
            ),
            (
                "https://greenthumb-journal.example.org/index.php?p=123",
                "https://greenthumb-journal.example.org/",
            ),
        ]
        for src, dst in redirects:
            self.add(
                Page(
                    src,
                    b"",
                    "redirect_301",
                    "crawl:non_html",
                    status="301 Moved Permanently",
                    content_type=None,
                    identified_type=None,
                    headers=[("Location", dst)],
                    info={"location": dst},
                )
            )
        api = [
            (
                "https://plainscience.example.org/api/v1/articles?page=2",
                {
                    "page": 2,
                    "per_page": 3,
                    "articles": [
                        {"id": 311, "title": "What causes the tides?", "section": "Earth"},
                        {"id": 312, "title": "How a rainbow is made", "section": "Sky"},
                        {"id": 313, "title": "How magnets work", "section": "Technology"},
                    ],
                },
            ),
            (
                "https://pennywise-household.example/api/posts?per_page=2",
                [
                    {"id": 88, "slug": "a-simple-budget", "status": "publish"},
                    {"id": 89, "slug": "saving-for-a-new-boiler", "status": "publish"},
                ],
            ),
        ]
        for url, obj in api:
            self.add(
                Page(
                    url,
                    (json.dumps(obj, indent=2) + "\n").encode(),
                    "json_api",
                    "crawl:non_html",
                    content_type="application/json",
                    identified_type="application/json",
                )
            )

    def truncated_page(self) -> None:
        art, secs, host, url = self.english_article_page("weather", "harwick-gazette.example")
        self.add(
            self.html_page(
                url,
                self.render(host, art, secs, url),
                "truncated_record",
                "crawl:truncated",
                placement="truncate",
                info={
                    "note": "last record of the last WARC file; its gzip member is cut off "
                    "mid-payload, so readers must stop there and keep what came before"
                },
                text=art.text,
            )
        )

    def build(self) -> list[Page]:
        self.regular_articles()
        self.dedup_groups()
        self.pii_pages()
        self.encoding_pages()
        self.language_pages()
        self.url_filter_pages()
        self.spam_pages()
        self.repetition_pages()
        self.gopher_quality_pages()
        self.c4_pages()
        self.fineweb_pages()
        self.extract_pages()
        self.non_html_pages()
        self.truncated_page()
        return self.pages


NEAR_DUP_SWAPS = [
    ("often", "frequently"),
    ("usually", "normally"),
    ("small", "little"),
    ("quickly", "rapidly"),
    ("large", "big"),
    ("simple", "plain"),
    ("good", "fine"),
    ("every", "each"),
    ("slowly", "gradually"),
    ("careful", "thorough"),
]


def near_duplicate(art: Article, secs: list[Section], rng: random.Random, variant: int):
    """Copy an article, change two words in two sentences, add an update line, move the date."""
    new_secs = [Section(s.heading, list(s.paragraphs)) for s in secs]
    changes = []
    body_idx = [(i, j) for i, s in enumerate(new_secs) for j in range(len(s.paragraphs))]
    rng.shuffle(body_idx)
    for i, j in body_idx:
        if len(changes) == 2:
            break
        p = new_secs[i].paragraphs[j]
        for a, b in NEAR_DUP_SWAPS:
            m = re.search(rf"\b{a}\b", p)
            if m:
                new_secs[i].paragraphs[j] = p[: m.start()] + b + p[m.end() :]
                changes.append(f"{a} -> {b}")
                break
    new_date = art.date + dt.timedelta(days=3 + 4 * variant)
    note = f"This article was updated on {fmt_date(new_date)} with minor corrections."
    new_secs[-1].paragraphs.append(note)
    changes.append(f"added line: {note}")
    new_art = Article(
        art.topic, art.title, art.byline, new_date, [p for s in new_secs for p in s.paragraphs], art.bind
    )
    return new_art, new_secs, changes


# ----------------------------------------------------------------------------------------------
# WARC writing (WARC/1.0, one gzip member per record, like Common Crawl)
# ----------------------------------------------------------------------------------------------

WARC_FILES = ["crawl-00000.warc.gz", "crawl-00001.warc.gz", "crawl-00002.warc.gz"]
USER_AGENT = "llmkit-sample-crawler/0.1 (+https://crawler.llmkit.example/about)"


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def warc_date(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(t: dt.datetime) -> str:
    return email.utils.format_datetime(t, usegmt=True)


def warc_record(headers: list[tuple[str, str]], block: bytes) -> bytes:
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def gz_member(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


class WarcFile:
    def __init__(self, name: str, rng: random.Random, start: dt.datetime):
        self.name = name
        self.rng = rng
        self.now = start
        self.members: list[bytes] = []
        self.counts: dict[str, int] = {}
        self.warcinfo_id = self.new_id()
        info = (
            "software: llmkit sample data generator (sample_data/make_sample_data.py)\r\n"
            "format: WARC File Format 1.0\r\n"
            "conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/\r\n"
            "isPartOf: llmkit-sample-crawl\r\n"
            "description: Synthetic pages for the llmkit demo pipeline. Every host is made up "
            "(.example, .example.org, .test); see sample_data/planted.json for the planted cases.\r\n"
            "robots: checked\r\n"
            f"http-header-user-agent: {USER_AGENT}\r\n"
        ).encode()
        self.add(
            [
                ("WARC-Type", "warcinfo"),
                ("WARC-Date", warc_date(self.now)),
                ("WARC-Filename", name),
                ("WARC-Record-ID", self.warcinfo_id),
                ("Content-Type", "application/warc-fields"),
                ("Content-Length", str(len(info))),
            ],
            info,
            "warcinfo",
        )

    def new_id(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}>"

    def tick(self) -> None:
        self.now += dt.timedelta(seconds=self.rng.randint(1, 40))

    def add(self, headers, block: bytes, kind: str, truncate: float | None = None) -> None:
        member = gz_member(warc_record(headers, block))
        if truncate is not None:
            member = member[: int(len(member) * truncate)]
        self.members.append(member)
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def add_page(
        self,
        page: Page,
        ip: str,
        truncate: float | None = None,
        with_request: bool = True,
        with_metadata: bool = True,
    ) -> str:
        self.tick()
        date = warc_date(self.now)
        m = re.match(r"https?://([^/]+)(/.*)?$", page.url)
        host, path = m.group(1), m.group(2) or "/"
        req_id, resp_id = self.new_id(), self.new_id()
        if with_request:
            req = (
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
                "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
                "Accept-Language: en-US,en;q=0.5\r\nConnection: close\r\n\r\n"
            ).encode()
            self.add(
                [
                    ("WARC-Type", "request"),
                    ("WARC-Date", date),
                    ("WARC-Record-ID", req_id),
                    ("Content-Length", str(len(req))),
                    ("Content-Type", "application/http; msgtype=request"),
                    ("WARC-Warcinfo-ID", self.warcinfo_id),
                    ("WARC-IP-Address", ip),
                    ("WARC-Target-URI", page.url),
                    ("WARC-Block-Digest", sha1_b32(req)),
                ],
                req,
                "request",
            )
        lines = [
            f"HTTP/1.1 {page.status}",
            f"Date: {http_date(self.now)}",
            f"Server: {self.rng.choice(['nginx', 'Apache', 'nginx/1.24.0', 'cloudflare'])}",
        ]
        if page.content_type:
            lines.append(f"Content-Type: {page.content_type}")
        lines += [f"{k}: {v}" for k, v in page.headers]
        lines += [f"Content-Length: {len(page.body)}", "Connection: close"]
        http_block = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + page.body
        headers = [
            ("WARC-Type", "response"),
            ("WARC-Date", date),
            ("WARC-Record-ID", resp_id),
            ("Content-Length", str(len(http_block))),
            ("Content-Type", "application/http; msgtype=response"),
            ("WARC-Warcinfo-ID", self.warcinfo_id),
        ]
        if with_request:
            headers.append(("WARC-Concurrent-To", req_id))
        headers += [
            ("WARC-IP-Address", ip),
            ("WARC-Target-URI", page.url),
            ("WARC-Payload-Digest", sha1_b32(page.body)),
            ("WARC-Block-Digest", sha1_b32(http_block)),
        ]
        if page.identified_type and self.rng.random() < 0.75:
            headers.append(("WARC-Identified-Payload-Type", page.identified_type))
        self.add(headers, http_block, "response", truncate)
        if with_metadata and truncate is None:
            meta = (
                f"fetchTimeMs: {self.rng.randint(40, 900)}\r\ncharset-detected: {charset_of(page)}\r\n"
            ).encode()
            self.add(
                [
                    ("WARC-Type", "metadata"),
                    ("WARC-Date", date),
                    ("WARC-Record-ID", self.new_id()),
                    ("Content-Length", str(len(meta))),
                    ("Content-Type", "application/warc-fields"),
                    ("WARC-Warcinfo-ID", self.warcinfo_id),
                    ("WARC-Concurrent-To", resp_id),
                    ("WARC-Target-URI", page.url),
                ],
                meta,
                "metadata",
            )
        return resp_id

    def write(self, path: Path) -> None:
        path.write_bytes(b"".join(self.members))


def charset_of(page: Page) -> str:
    ct = page.content_type or ""
    m = re.search(r"charset=([^;]+)", ct)
    return m.group(1) if m else "unknown"


def write_warcs(pages: list[Page], rng: random.Random) -> list[dict]:
    """Distribute pages over the WARC files and write them. Returns per-page placement records."""
    first = [p for p in pages if p.placement == "first"]
    later = [p for p in pages if p.placement == "later"]
    robots = [p for p in pages if p.placement == "robots"]
    trunc = [p for p in pages if p.placement == "truncate"]
    rest = [p for p in pages if p.placement == "any"]
    rng.shuffle(rest)
    buckets: list[list[Page]] = [[], [], []]
    for i, p in enumerate(rest):
        buckets[i % 3].append(p)
    for b in buckets:
        rng.shuffle(b)
    # originals of duplicate groups: early in file 0; copies: files 1 and 2
    buckets[0] = first + buckets[0]
    for i, p in enumerate(later):
        pos = rng.randint(0, len(buckets[1 + i % 2]))
        buckets[1 + i % 2].insert(pos, p)
    for i, p in enumerate(robots):
        buckets[i].insert(0, p)
    buckets[2] += trunc
    base = dt.datetime(2024, 3, 4, 6, 0, 0, tzinfo=dt.UTC)
    placements = []
    for fi, (name, bucket) in enumerate(zip(WARC_FILES, buckets, strict=True)):
        start = base + dt.timedelta(hours=5 * fi, seconds=rng.randint(0, 3600))
        wf = WarcFile(name, rng, start)
        for idx, p in enumerate(bucket):
            ip = f"203.0.113.{rng.randint(2, 254)}"
            is_trunc = p.placement == "truncate"
            rid = wf.add_page(
                p,
                ip,
                truncate=0.55 if is_trunc else None,
                with_request=rng.random() < 0.85 or is_trunc,
                with_metadata=rng.random() < 0.8,
            )
            placements.append(
                {"url": p.url, "file": f"crawl/{name}", "warc_record_id": rid, "response_index_in_file": idx}
            )
        wf.write(CRAWL_DIR / name)
        WARC_STATS[name] = dict(wf.counts)
    return placements


WARC_STATS: dict[str, dict[str, int]] = {}

# ----------------------------------------------------------------------------------------------
# Chat, preference and prompt data (short, consistent, learnable by a very small model)
# ----------------------------------------------------------------------------------------------

# Made-up countries and their capitals; the chat data always uses these pairs.
CAPITALS = [
    ("Veltoria", "Marenhold"),
    ("Quessland", "Port Aldren"),
    ("Brisovia", "Talmark"),
    ("Norvenia", "Eskholm"),
    ("Tarvania", "Lissop"),
    ("Orlavia", "Brennick"),
    ("the Sundmark Isles", "Haldvik"),
    ("Mirovia", "Castel Ombra"),
    ("Pelagos Minor", "Thera Nova"),
    ("Ardenmoor", "Kellwick"),
    ("Zanthia", "Oru"),
    ("Felmark", "Grisby"),
    ("Cordavia", "San Ilario"),
    ("Ustria", "Vell"),
    ("Drayland", "Hobbs Reach"),
    ("Lunmark", "Silverholm"),
    ("Estravia", "Morrow Bay"),
    ("Galdor", "Fennhall"),
    ("Tessaria", "Pirn"),
    ("Rhovenia", "Amberton"),
]

DEFINITIONS = [
    (
        "photosynthesis",
        "Photosynthesis is the process plants use to make their food from sunlight, water and carbon dioxide.",
    ),
    ("evaporation", "Evaporation is when a liquid, such as water, slowly turns into a gas."),
    ("a volcano", "A volcano is an opening in the Earth's crust where melted rock, ash and gas can escape."),
    ("a magnet", "A magnet is an object that pulls on iron and some other metals."),
    ("an echo", "An echo is a sound that bounces off a hard surface and comes back to you."),
    ("a compass", "A compass is a tool with a magnetic needle that points north, so you can find your way."),
    ("a budget", "A budget is a plan for how you will spend and save your money."),
    (
        "interest",
        "Interest is the extra money a bank pays you for saving, or the extra money you pay when you borrow.",
    ),
    (
        "a backup",
        "A backup is a second copy of your files, kept somewhere safe in case the first copy is lost.",
    ),
    ("compost", "Compost is rotted plant and food waste that makes soil richer for growing plants."),
    ("a seed", "A seed is the small part of a plant that can grow into a new plant."),
    ("a habitat", "A habitat is the natural home of an animal or a plant."),
    ("a fraction", "A fraction is a part of a whole, such as one half or three quarters."),
    ("a noun", "A noun is a word for a person, place or thing, such as teacher, town or cup."),
    ("a verb", "A verb is a word for an action or a state, such as run, eat or be."),
    ("an adjective", "An adjective is a word that describes a noun, such as big, green or happy."),
    ("a synonym", "A synonym is a word that means the same or nearly the same as another word."),
    ("an antonym", "An antonym is a word with the opposite meaning, such as hot and cold."),
    ("a triangle", "A triangle is a flat shape with three straight sides and three corners."),
    ("a rectangle", "A rectangle is a flat shape with four straight sides and four right angles."),
    ("a thermometer", "A thermometer is a tool for measuring temperature."),
    ("a telescope", "A telescope is an instrument that makes faraway things, such as stars, look closer."),
    ("a harbour", "A harbour is a sheltered area of water where boats and ships can stay safely."),
    (
        "a lighthouse",
        "A lighthouse is a tower with a bright light that warns ships about rocks and the coast.",
    ),
    ("a mammal", "A mammal is a warm-blooded animal with hair or fur that feeds its young on milk."),
    ("a reptile", "A reptile is a cold-blooded animal with scales, such as a lizard, a snake or a tortoise."),
    ("an insect", "An insect is a small animal with six legs and a body in three parts."),
    ("a planet", "A planet is a large body that travels around a star, as the Earth travels around the Sun."),
    ("gravity", "Gravity is the force that pulls things towards each other, and it keeps us on the ground."),
    ("a cloud", "A cloud is a mass of tiny water droplets or ice crystals floating in the sky."),
    ("fog", "Fog is a cloud that forms close to the ground."),
    ("a tide", "A tide is the regular rise and fall of the sea, caused mainly by the Moon's gravity."),
    ("a glacier", "A glacier is a huge, slow-moving mass of ice on land."),
    ("a recipe", "A recipe is a set of instructions for cooking or baking a dish."),
    ("a library", "A library is a place where you can borrow books and use computers for free."),
    ("a museum", "A museum is a building where interesting objects are kept and shown to visitors."),
    (
        "an allotment",
        "An allotment is a small piece of land that a person rents to grow fruit and vegetables.",
    ),
    ("a password", "A password is a secret word or phrase that you use to sign in to an account."),
    ("a spreadsheet", "A spreadsheet is a grid of rows and columns used to organise numbers and text."),
    ("a river", "A river is a large stream of fresh water that flows towards the sea or a lake."),
    ("an island", "An island is a piece of land with water all around it."),
    ("a forecast", "A forecast is a prediction of what the weather will be like."),
    ("a herbivore", "A herbivore is an animal that eats only plants."),
    ("a carnivore", "A carnivore is an animal that eats meat."),
    ("a vowel", "A vowel is one of the letters a, e, i, o and u."),
]

FACTS_QA = [
    ("What causes the tides?", "Tides are caused mainly by the pull of the Moon's gravity on the oceans."),
    ("How many high tides do most coasts get each day?", "Most coasts get two high tides each day."),
    (
        "When do you see a rainbow?",
        "You see a rainbow when the Sun is behind you and sunlight shines into falling raindrops.",
    ),
    (
        "Which colour is on the outside of a rainbow?",
        "Red is on the outside of a rainbow, and violet is on the inside.",
    ),
    (
        "Why do we see lightning before we hear thunder?",
        "Light travels much faster than sound, so the flash reaches us before the thunder.",
    ),
    ("How far does sound travel in three seconds?", "Sound travels about one kilometre in three seconds."),
    (
        "Why do we have seasons?",
        "We have seasons because the Earth's axis is tilted, so each half leans towards the Sun for part of the year.",
    ),
    (
        "Is the Earth closest to the Sun in summer?",
        "No. The Earth is closest to the Sun in early January, which is winter in the north.",
    ),
    (
        "What is the water cycle?",
        "The water cycle is the constant movement of water between the sea, the air and the land.",
    ),
    (
        "How long does the Moon take to go through all its phases?",
        "The Moon takes about twenty-nine and a half days to go through all its phases.",
    ),
    ("Does the Moon make its own light?", "No. The Moon shines because it reflects light from the Sun."),
    ("Why are leaves green?", "Leaves are green because chlorophyll reflects green light."),
    ("What gas do plants give off during photosynthesis?", "Plants give off oxygen during photosynthesis."),
    (
        "What is magma called when it reaches the surface?",
        "When magma reaches the surface, it is called lava.",
    ),
    ("Which way does a compass needle point?", "A compass needle points roughly north."),
    (
        "Do opposite poles of magnets attract or repel?",
        "Opposite poles attract each other, and like poles push each other away.",
    ),
    (
        "Can sound travel through space?",
        "No. Sound cannot travel through empty space, because there is nothing to vibrate.",
    ),
    ("What is fog?", "Fog is a cloud that forms at ground level."),
    ("What are cirrus clouds made of?", "Cirrus clouds are thin, wispy clouds made of ice crystals."),
    (
        "What causes an earthquake?",
        "An earthquake happens when rocks along a fault suddenly slip and release stored energy.",
    ),
    (
        "How long should you boil an egg for a soft yolk?",
        "About six to seven minutes in boiling water gives a soft yolk.",
    ),
    (
        "Why should you let meat rest before carving?",
        "Resting lets the juices settle, so the meat stays moist when you carve it.",
    ),
    (
        "Should you pour cooking fat down the sink?",
        "No. Cooking fat can block the pipes, so let it cool and put it in the bin.",
    ),
    (
        "How often should I water tomatoes?",
        "Water tomatoes deeply once or twice a week rather than a little every day.",
    ),
    (
        "When are garlic bulbs usually planted?",
        "Garlic bulbs are usually planted in October and harvested the following summer.",
    ),
    ("What do rabbits mainly eat?", "Rabbits mainly eat hay, with some fresh leafy greens."),
    ("Can dogs eat chocolate?", "No. Chocolate is harmful to dogs and should never be given as a treat."),
    (
        "Why do guinea pigs need fresh vegetables?",
        "Guinea pigs cannot make their own vitamin C, so they need it from fresh vegetables.",
    ),
    ("How long can a tortoise live?", "Many tortoises live for more than fifty years."),
    ("When are hamsters most active?", "Hamsters are most active in the evening and at night."),
    (
        "How many hours of sleep do most adults need?",
        "Most adults need between seven and nine hours of sleep a night.",
    ),
    (
        "How much exercise should adults get each week?",
        "Many health services suggest about 150 minutes of moderate activity each week.",
    ),
    (
        "What makes a strong password?",
        "A strong password is long, for example three or four random words joined together.",
    ),
    (
        "Why should I install software updates?",
        "Updates fix security problems, so installing them keeps your device safer.",
    ),
    (
        "What is two-step verification?",
        "Two-step verification adds a second check, such as a code from your phone, when you sign in.",
    ),
    (
        "How can I spot a phishing email?",
        "Check the sender's address, be wary of urgent demands, and never send your password by email.",
    ),
    (
        "How do I fix a dripping tap?",
        "Turn off the water, take the tap apart and replace the worn washer inside.",
    ),
    (
        "How do I bleed a radiator?",
        "With the heating off, open the small valve at the top with a radiator key until water appears.",
    ),
    (
        "What is an emergency fund?",
        "An emergency fund is money set aside for unexpected costs, often about three to six months of essentials.",
    ),
    (
        "How can I start saving money?",
        "Write down what you spend, then move a fixed amount into savings on payday.",
    ),
    (
        "What should I pack for a day walk?",
        "Pack water, a snack, a waterproof jacket, a map and a charged phone.",
    ),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("How many legs does an insect have?", "An insect has six legs."),
    ("How many days are there in a leap year?", "A leap year has 366 days."),
    ("How many days are there in a week?", "There are seven days in a week."),
    ("How many months are there in a year?", "There are twelve months in a year."),
    ("What is the freezing point of water in Celsius?", "Water freezes at 0 degrees Celsius."),
    ("What is the boiling point of water in Celsius?", "At sea level, water boils at 100 degrees Celsius."),
    ("Which planet do we live on?", "We live on the planet Earth."),
    ("What is the closest star to the Earth?", "The closest star to the Earth is the Sun."),
]

OPPOSITES = [
    ("hot", "cold"),
    ("big", "small"),
    ("up", "down"),
    ("fast", "slow"),
    ("early", "late"),
    ("light", "dark"),
    ("open", "closed"),
    ("full", "empty"),
    ("wet", "dry"),
    ("old", "new"),
    ("happy", "sad"),
    ("loud", "quiet"),
    ("strong", "weak"),
    ("high", "low"),
    ("near", "far"),
    ("first", "last"),
    ("heavy", "light"),
    ("thick", "thin"),
    ("hard", "soft"),
    ("rich", "poor"),
    ("clean", "dirty"),
    ("tall", "short"),
    ("push", "pull"),
    ("buy", "sell"),
    ("give", "take"),
    ("arrive", "leave"),
    ("win", "lose"),
    ("inside", "outside"),
    ("above", "below"),
    ("always", "never"),
    ("begin", "end"),
    ("day", "night"),
    ("north", "south"),
    ("east", "west"),
    ("summer", "winter"),
    ("sweet", "sour"),
    ("awake", "asleep"),
    ("remember", "forget"),
    ("true", "false"),
    ("safe", "dangerous"),
]

REPEAT_SUBJECTS = [
    "The blue boat",
    "A small robin",
    "My neighbour",
    "The old mill",
    "Our new kettle",
    "The village choir",
    "A patient gardener",
    "The morning train",
    "This little book",
    "The river",
    "A friendly dog",
    "The baker",
]
REPEAT_VERBS = [
    "sails at dawn",
    "sings in the garden",
    "grows tall tomatoes",
    "turns slowly in the wind",
    "boils in two minutes",
    "practises every Tuesday",
    "waits for the rain",
    "leaves at seven",
    "fits in my pocket",
    "runs past the church",
    "sleeps by the fire",
    "bakes bread before sunrise",
]

LETTER_WORDS = [
    "garden",
    "apple",
    "river",
    "window",
    "kettle",
    "harbour",
    "lantern",
    "bicycle",
    "carrot",
    "planet",
    "orange",
    "pencil",
    "market",
    "library",
    "tomato",
    "compass",
    "island",
    "winter",
    "summer",
    "basket",
    "thunder",
    "rainbow",
    "biscuit",
    "museum",
    "spade",
    "tiger",
    "cloud",
    "bread",
    "meadow",
    "teapot",
    "journey",
    "lighthouse",
]

UNITS = [
    # (from, to, factor, lo, hi)
    ("metres", "centimetres", 100, 2, 15),
    ("kilometres", "metres", 1000, 2, 12),
    ("kilograms", "grams", 1000, 2, 9),
    ("litres", "millilitres", 1000, 2, 8),
    ("hours", "minutes", 60, 2, 10),
    ("minutes", "seconds", 60, 2, 10),
    ("days", "hours", 24, 2, 7),
    ("weeks", "days", 7, 2, 12),
    ("years", "months", 12, 2, 10),
    ("centimetres", "millimetres", 10, 3, 30),
    ("dozens", "items", 12, 2, 9),
]

SYSTEM_PROMPTS = [
    "You are a helpful assistant.",
    "You are a friendly assistant. Keep your answers short and polite.",
    "You are a patient tutor who explains things simply.",
    "You are a helpful assistant. Answer in one or two sentences.",
]

GREETINGS = [
    ("Hello!", "Hello! How can I help you today?"),
    ("Hi there.", "Hi! What would you like to talk about?"),
    ("Good morning!", "Good morning! I hope your day is off to a good start. How can I help?"),
    ("Good evening.", "Good evening! What can I do for you?"),
    ("Hey, how are you?", "I'm doing well, thank you for asking. How can I help you today?"),
    ("Thank you!", "You're welcome! Let me know if there is anything else I can do."),
    ("Thanks for your help.", "You're very welcome. I'm glad I could help."),
    ("Goodbye!", "Goodbye! Have a lovely day."),
    ("See you later.", "See you later! Take care."),
    ("Who are you?", "I'm a small assistant. I can answer simple questions, do sums and explain words."),
    (
        "What can you do?",
        "I can answer simple questions, do arithmetic, convert units and explain the meaning of words.",
    ),
    ("Can you help me?", "Of course. What do you need help with?"),
    (
        "I'm bored.",
        "How about a short walk, a good book or a simple recipe to try? I'm happy to suggest one.",
    ),
    (
        "Tell me something interesting.",
        "Here is one: sound travels about one kilometre in three seconds, so you can count the seconds after a lightning flash to guess how far away the storm is.",
    ),
    ("Nice to meet you.", "Nice to meet you too! How can I help?"),
    ("Good night.", "Good night! Sleep well."),
    ("Are you a person?", "No, I'm a computer program, but I'll do my best to help you."),
    ("Do you like books?", "I can't read for fun, but I'm happy to talk about books with you."),
]

NAMES_FOR_PROBLEMS = [
    "Tom",
    "Ada",
    "Sam",
    "Mia",
    "Leo",
    "Nia",
    "Ben",
    "Zoe",
    "Omar",
    "Ivy",
    "Raj",
    "Ella",
    "Finn",
    "Lily",
    "Kai",
    "Ruth",
    "Hugo",
    "Nell",
    "Amir",
    "Rosa",
]
ITEMS = [
    "apples",
    "pencils",
    "marbles",
    "stickers",
    "books",
    "eggs",
    "biscuits",
    "stamps",
    "shells",
    "cards",
    "oranges",
    "buttons",
    "conkers",
    "crayons",
    "plums",
]


def arithmetic_qa(rng: random.Random) -> tuple[str, str, int]:
    kind = rng.choice(["add", "add", "sub", "sub", "mul"])
    if kind == "add":
        a, b = rng.randint(10, 499), rng.randint(10, 499)
        return f"What is {a} + {b}?", f"{a} + {b} = {a + b}.", a + b
    if kind == "sub":
        a = rng.randint(20, 500)
        b = rng.randint(1, a)
        return f"What is {a} - {b}?", f"{a} - {b} = {a - b}.", a - b
    a, b = rng.randint(2, 12), rng.randint(2, 12)
    return f"What is {a} times {b}?", f"{a} times {b} is {a * b}.", a * b


def small_sum_qa(rng: random.Random) -> tuple[str, str, int]:
    """A one-digit sum or difference: easy enough that a tiny model gets some right after SFT, so RL
    on verifiable rewards (GRPO) has correct answers to reinforce."""
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    if rng.random() < 0.6:
        q = rng.choice([f"What is {a} + {b}?", f"What is {a} plus {b}?", f"Add {a} and {b}."])
        return q, f"{a} + {b} = {a + b}.", a + b
    a, b = max(a, b), min(a, b)
    q = rng.choice([f"What is {a} - {b}?", f"What is {a} minus {b}?"])
    return q, f"{a} - {b} = {a - b}.", a - b


def compare_qa(rng: random.Random) -> tuple[str, str, int]:
    """The larger or smaller of two one-digit numbers: a guess is right half the time, so sampled answers
    differ in reward from the start, which is the signal GRPO learns from."""
    a, b = rng.sample(range(1, 10), 2)
    word, pick = rng.choice([("larger", max(a, b)), ("bigger", max(a, b)), ("smaller", min(a, b))])
    q = rng.choice([f"Which is {word}, {a} or {b}?", f"Which number is {word}: {a} or {b}?"])
    return q, f"The {word} number is {pick}.", pick


def unit_qa(rng: random.Random) -> tuple[str, str, int]:
    src, dst, factor, lo, hi = rng.choice(UNITS)
    n = rng.randint(lo, hi)
    if src == "dozens":
        return (
            f"How many items are in {n} dozen?",
            f"There are {n * factor} items in {n} dozen.",
            n * factor,
        )
    q = rng.choice([f"How many {dst} are in {n} {src}?", f"Convert {n} {src} to {dst}."])
    return q, f"There are {n * factor} {dst} in {n} {src}.", n * factor


NUMERIC_QA = {"arith": arithmetic_qa, "small": small_sum_qa, "compare": compare_qa, "unit": unit_qa}


def simple_qa(rng: random.Random, kind: str) -> tuple[str, str]:
    """One single-turn question and the polite, correct answer."""
    if kind in NUMERIC_QA:
        q, a, _ = NUMERIC_QA[kind](rng)
        return q, a
    if kind == "capital":
        country, capital = rng.choice(CAPITALS)
        style = rng.randint(0, 2)
        if style == 0:
            return f"What is the capital of {country}?", f"The capital of {country} is {capital}."
        if style == 1:
            return f"Which city is the capital of {country}?", f"{capital} is the capital of {country}."
        return f"{capital} is the capital of which country?", f"{capital} is the capital of {country}."
    if kind == "define":
        word, d = rng.choice(DEFINITIONS)
        q = rng.choice([f"What is {word}?", f"Can you explain what {word} is?", f"Define {word}."])
        if word in ("photosynthesis", "evaporation", "interest", "compost", "gravity", "fog"):
            q = rng.choice([f"What is {word}?", f"Can you explain {word}?", f"Define {word}."])
        return q, d
    if kind == "fact":
        return rng.choice(FACTS_QA)
    if kind == "opposite":
        a, b = rng.choice(OPPOSITES)
        if rng.random() < 0.5:
            a, b = b, a
        return f'What is the opposite of "{a}"?', f'The opposite of "{a}" is "{b}".'
    if kind == "repeat":
        phrase = f"{rng.choice(REPEAT_SUBJECTS)} {rng.choice(REPEAT_VERBS)}."
        return f"Repeat after me: {phrase}", phrase
    if kind == "letters":
        w = rng.choice(LETTER_WORDS)
        return f'How many letters are in the word "{w}"?', f'The word "{w}" has {len(w)} letters.'
    if kind == "greet":
        return rng.choice(GREETINGS)
    raise ValueError(kind)


def make_chat(rng: random.Random, n_single: int = 600, n_multi: int = 70) -> list[dict]:
    kinds = (
        ["small"] * 20
        + ["compare"] * 20
        + ["arith"] * 9
        + ["unit"] * 5
        + ["capital"] * 4
        + ["define"] * 5
        + ["fact"] * 6
        + ["opposite"] * 3
        + ["repeat"] * 3
        + ["letters"] * 3
        + ["greet"] * 3
    )
    seen: set[str] = set()
    out: list[dict] = []

    def push(msgs: list[dict]) -> bool:
        key = json.dumps(msgs, ensure_ascii=False)
        if key in seen:
            return False
        seen.add(key)
        out.append({"messages": msgs})
        return True

    while len(out) < n_single:
        q, a = simple_qa(rng, rng.choice(kinds))
        msgs = []
        if rng.random() < 0.25:
            msgs.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        push(msgs)
    target = len(out) + n_multi
    while len(out) < target:
        style = rng.randint(0, 4)
        msgs = []
        if rng.random() < 0.3:
            msgs.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
        if style == 0:  # greeting, then a question
            g, ga = rng.choice(GREETINGS[:5])
            q, a = simple_qa(rng, rng.choice(["fact", "define", "capital", "unit"]))
            msgs += [
                {"role": "user", "content": g},
                {"role": "assistant", "content": ga},
                {"role": "user", "content": q},
                {"role": "assistant", "content": a},
            ]
        elif style == 1:  # sum, then add more
            a, b, c = rng.randint(10, 99), rng.randint(10, 99), rng.randint(2, 20)
            msgs += [
                {"role": "user", "content": f"What is {a} + {b}?"},
                {"role": "assistant", "content": f"{a} + {b} = {a + b}."},
                {"role": "user", "content": f"And if I add {c} more?"},
                {"role": "assistant", "content": f"{a + b} + {c} = {a + b + c}."},
            ]
        elif style == 2:  # capital, then the reverse question
            country, capital = rng.choice(CAPITALS)
            msgs += [
                {"role": "user", "content": f"What is the capital of {country}?"},
                {"role": "assistant", "content": f"The capital of {country} is {capital}."},
                {"role": "user", "content": f"Can you spell {capital} for me?"},
                {"role": "assistant", "content": f"Of course: {'-'.join(capital.replace(' ', '').upper())}."},
            ]
        elif style == 3:  # definition, then thanks
            q, a = simple_qa(rng, "define")
            msgs += [
                {"role": "user", "content": q},
                {"role": "assistant", "content": a},
                {
                    "role": "user",
                    "content": rng.choice(["Thanks!", "Thank you, that helps.", "Great, thanks."]),
                },
                {
                    "role": "assistant",
                    "content": rng.choice(
                        ["You're welcome!", "Glad I could help.", "You're welcome. Ask me anything else."]
                    ),
                },
            ]
        else:  # unit conversion, then the reverse
            src, dst, factor, lo, hi = rng.choice([u for u in UNITS if u[0] != "dozens"])
            n = rng.randint(lo, hi)
            msgs += [
                {"role": "user", "content": f"How many {dst} are in {n} {src}?"},
                {"role": "assistant", "content": f"There are {n * factor} {dst} in {n} {src}."},
                {"role": "user", "content": f"So how many {src} is {n * factor * 2} {dst}?"},
                {"role": "assistant", "content": f"{n * factor * 2} {dst} is {n * 2} {src}."},
            ]
        push(msgs)
    return out


RUDE = [
    "That's a silly question. Look it up yourself.",
    "Why are you asking me? Figure it out.",
    "Ugh, not this again. Ask someone else.",
    "I don't have time for this.",
    "Seriously? Everyone knows that.",
    "Go and read a book instead of bothering me.",
    "Whatever. It doesn't matter.",
    "Stop asking me such boring questions.",
]
EMPTYISH = ["Hmm.", "...", "Not sure.", "Maybe.", "I guess.", "?", "Ok.", "Dunno."]
REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I am not able to answer questions like this.",
    "Sorry, I won't answer that.",
    "That is not something I can help with.",
]


def make_prefs(rng: random.Random, n: int = 440) -> list[dict]:
    kinds = (
        ["arith"] * 8
        + ["unit"] * 4
        + ["capital"] * 4
        + ["define"] * 5
        + ["fact"] * 6
        + ["opposite"] * 3
        + ["letters"] * 2
        + ["greet"] * 2
    )
    bad_kinds = ["wrong", "rude", "off_topic", "empty", "repetitive", "refusal"]
    seen: set[str] = set()
    out: list[dict] = []
    i = 0
    while len(out) < n:
        kind = rng.choice(kinds)
        if kind in ("arith", "unit"):
            q, good, value = (arithmetic_qa if kind == "arith" else unit_qa)(rng)
        else:
            q, good = simple_qa(rng, kind)
            value = None
        if q in seen:
            continue
        seen.add(q)
        bad_kind = bad_kinds[i % len(bad_kinds)]
        i += 1
        if bad_kind == "wrong":
            if value is not None:
                wrong = value + rng.choice([-1, 1]) * rng.randint(1, 9)
                bad = good.replace(str(value), str(wrong))
            elif kind == "capital":
                country = next(c for c, cap in CAPITALS if c in q or cap in q)
                right = dict(CAPITALS)[country]
                other = rng.choice([cap for c, cap in CAPITALS if cap != right])
                bad = (
                    good.replace(right, other)
                    if right in good
                    else good.replace(country, rng.choice([c for c, _ in CAPITALS if c != country]))
                )
            elif kind == "letters":
                w = re.search(r'"(\w+)"', q).group(1)
                bad = good.replace(str(len(w)), str(len(w) + rng.choice([-2, -1, 1, 2])))
            elif kind == "opposite":
                a = re.search(r'"(\w+)"', q).group(1)
                bad = f'The opposite of "{a}" is "{a}".'
            else:
                bad_kind = "off_topic"
        if bad_kind == "rude":
            bad = rng.choice(RUDE)
        elif bad_kind == "off_topic":
            other_q, other_a = simple_qa(rng, rng.choice(["fact", "define", "greet"]))
            while other_a == good:
                other_q, other_a = simple_qa(rng, rng.choice(["fact", "define"]))
            bad = other_a
        elif bad_kind == "empty":
            bad = rng.choice(EMPTYISH)
        elif bad_kind == "repetitive":
            words = good.rstrip(".!?").split()
            chunk = " ".join(words[: rng.randint(1, min(3, len(words)))])
            bad = " ".join([chunk] * rng.randint(5, 9))
        elif bad_kind == "refusal":
            bad = rng.choice(REFUSALS)
        assert bad != good
        out.append({"prompt": [{"role": "user", "content": q}], "chosen": good, "rejected": bad})
    return out


WORD_PROBLEMS = [
    ("add", "{name} has {a} {item} and buys {b} more. How many {item} does {name} have now?"),
    (
        "add",
        "There are {a} {item} in a basket and {b} {item} on the table. How many {item} are there altogether?",
    ),
    (
        "add",
        "{name} read {a} pages on Monday and {b} pages on Tuesday. How many pages did {name} read in total?",
    ),
    ("sub", "{name} had {a} {item} and gave {b} to a friend. How many {item} does {name} have left?"),
    ("sub", "A shop had {a} {item} and sold {b} of them. How many {item} are left in the shop?"),
    ("sub", "A train has {a} seats and {b} of them are taken. How many seats are free?"),
    ("mul", "There are {a} boxes with {b} {item} in each box. How many {item} are there in total?"),
    ("mul", "{name} buys {a} packs of {item}, and each pack holds {b}. How many {item} does {name} buy?"),
    ("mul", "A garden has {a} rows of beans with {b} plants in each row. How many bean plants are there?"),
    ("div", "{name} shares {ab} {item} equally among {a} friends. How many {item} does each friend get?"),
    ("div", "A baker puts {ab} rolls into bags of {a}. How many bags does the baker fill?"),
    (
        "two",
        "{name} has {a} {item}, buys {b} more and then gives away {c}. How many {item} does {name} have now?",
    ),
    (
        "money",
        "A notebook costs {a} pounds and a pen costs {b} pounds. How many pounds do they cost together?",
    ),
    (
        "time",
        "A bus journey takes {a} minutes and the walk from the stop takes {b} minutes. How many minutes does the whole trip take?",
    ),
    (
        "sub",
        "A bottle holds {a} millilitres of juice. {name} drinks {b} millilitres. How many millilitres are left?",
    ),
]


def make_prompts(rng: random.Random, n: int = 700) -> list[dict]:
    """Prompts with integer answers. Most are digit comparisons and one-digit sums: a tiny SFT
    model gets some of these right, so GRPO has correct answers to reinforce; the rest are harder."""
    out: list[dict] = []
    seen: set[str] = set()
    while len(out) < n:
        r = rng.random()
        if r < 0.9:
            q, _, ans = (compare_qa if r < 0.7 else small_sum_qa)(rng)
        elif r < 0.925:
            a, b = rng.randint(10, 999), rng.randint(10, 999)
            q, ans = f"What is {a} + {b}?", a + b
        elif r < 0.95:
            a = rng.randint(20, 999)
            b = rng.randint(10, a)
            q, ans = f"What is {a} - {b}?", a - b
        elif r < 0.975:
            a, b = rng.randint(2, 12), rng.randint(2, 25)
            q = rng.choice([f"What is {a} times {b}?", f"What is {a} * {b}?", f"Multiply {a} by {b}."])
            ans = a * b
        else:
            kind, tmpl = rng.choice(WORD_PROBLEMS)
            name, item = rng.choice(NAMES_FOR_PROBLEMS), rng.choice(ITEMS)
            if kind in ("add", "money", "time"):
                a, b = rng.randint(2, 60), rng.randint(2, 60)
                ans, c, ab = a + b, 0, 0
            elif kind == "sub":
                a = rng.randint(10, 90)
                b = rng.randint(1, a - 1)
                ans, c, ab = a - b, 0, 0
            elif kind == "mul":
                a, b = rng.randint(2, 12), rng.randint(2, 12)
                ans, c, ab = a * b, 0, 0
            elif kind == "div":
                a, b = rng.randint(2, 9), rng.randint(2, 12)
                ab, ans, c = a * b, b, 0
            else:
                a, b = rng.randint(5, 40), rng.randint(2, 30)
                c = rng.randint(1, a + b - 1)
                ans, ab = a + b - c, 0
            q = tmpl.format(name=name, item=item, a=a, b=b, c=c, ab=ab)
        if q in seen:
            continue
        seen.add(q)
        out.append({"prompt": [{"role": "user", "content": q}], "answer": str(ans)})
    return out


# ----------------------------------------------------------------------------------------------
# planted.json, README.md and main
# ----------------------------------------------------------------------------------------------

CASE_DOCS = {
    "article": "Well-formed English article inside a realistic layout (nav, header, sidebar, cookie banner, footer).",
    "dup_exact_original": "Original of an exact-duplicate group (kept).",
    "dup_exact_copy": "Byte-identical copy of the original under another URL (tracking parameters, www. mirror, /amp/ path).",
    "dup_same_text_original": "Original of a group whose copies have different HTML but the same main text (kept).",
    "dup_same_text_other_layout": "Same article text syndicated by another site with a different layout.",
    "dup_same_text_print_version": "Same article text as a print version with a minimal layout.",
    "near_dup_original": "Original of a near-duplicate group (kept).",
    "near_dup_variant": "Same article with another layout, date and ads, two words changed and an update line added.",
    "pii": "Good English article with e-mail addresses, phone numbers, IP addresses or card numbers in it.",
    "enc_windows_1252": "Page encoded and declared as windows-1252 (smart quotes, accents).",
    "enc_iso_8859_1": "Page encoded and declared as iso-8859-1.",
    "enc_no_charset_utf8": "UTF-8 page with no charset in the HTTP header or the HTML.",
    "enc_invalid_charset_label": "UTF-8 page whose declared charset label does not exist (utf-8lol).",
    "enc_wrong_charset_declared": "Page declared as utf-8 but encoded as windows-1252 (invalid UTF-8 bytes).",
    "language_de": "German page.",
    "language_fr": "French page.",
    "language_es": "Spanish page.",
    "language_it": "Italian page.",
    "language_nl": "Dutch page.",
    "language_pt": "Portuguese page.",
    "url_blocklist": "Benign article on a made-up adult-looking host (xxx, porn, adult, casino).",
    "spam_keyword_stuffing": "The same keyword phrase repeated in every sentence.",
    "repeated_lines": "Short lines repeated many times (more than 30% duplicate lines).",
    "repeated_paragraphs": "One paragraph repeated six times, interleaved with short notices.",
    "bullet_lines": "A page that is nothing but a bullet list.",
    "ellipsis_lines": "Teaser lines that all end in '...' (one page uses the '…' character).",
    "hashtag_symbols": "Social posts full of #hashtags.",
    "numeric_table": "Weather-station log: most words are numbers or punctuation (with some English prose).",
    "lorem_ipsum_placeholder": "Good article with a leftover 'Lorem ipsum' placeholder paragraph.",
    "curly_bracket": "Good article with a template placeholder in curly brackets.",
    "javascript_cookie_notice": "JavaScript / cookie-policy notices and only two real sentences.",
    "too_few_sentences": "A single paragraph of three long sentences.",
    "c4_lines_removed": "Good article with a JavaScript line and a cookie line that C4 should remove (doc kept).",
    "short_lines": "Diary-style page of very short lines (30 characters or fewer).",
    "duplicated_line": "Good article with one sentence repeated three times as a pull quote.",
    "empty_body": "HTML page with nothing to extract.",
    "very_short": "Page with two or three words of text.",
    "boilerplate_only": "Menus and link lists with almost no main text.",
    "robots_txt": "robots.txt (text/plain).",
    "image_png": "A small PNG image.",
    "redirect_301": "301 redirect with a Location header and no body.",
    "json_api": "A JSON API response.",
    "truncated_record": "Last record of the last WARC file, gzip member cut off mid-payload.",
}

EXPECTED_DOCS = {
    "keep": "survives every step and reaches the clean output",
    "pii": "survives every step; the listed PII strings are replaced by placeholders in the clean output",
    "dedup": "removed by MinHash deduplication as a duplicate of `dup_of` (the copy earliest in crawl order is kept)",
    "extract": "extraction yields no text",
    "filter:url": "removed by the URL filter",
    "filter:language": "removed by language ID (not English)",
    "filter:gopher_repetition": "removed by the Gopher repetition filter",
    "filter:gopher_quality": "removed by the Gopher quality filter",
    "filter:c4": "removed by the C4 quality filter",
    "filter:fineweb": "removed by the FineWeb quality filter",
    "crawl:non_html": "the crawl stage does not emit it as an HTML page (non-HTML type, or a redirect with no body)",
    "crawl:truncated": "the reader stops at the truncated record; it is not emitted and every record before it is",
}


# Multiple-choice items for `llmkit eval` (context, the right continuation, three wrong ones), written
# for this project: everyday facts a model trained on the sample articles could pick up.
MC_ITEMS = [
    ("Water freezes at a temperature of zero degrees", " Celsius.", [" Fahrenheit.", " Kelvin.", " minutes."]),
    ("The sun rises in the", " east.", [" west.", " cellar.", " river."]),
    ("Bread dough rises because of the", " yeast.", [" salt.", " oven door.", " rolling pin."]),
    ("A week has seven", " days.", [" hours.", " months.", " seasons."]),
    ("Tomatoes grow best in a sunny spot with plenty of", " water.", [" snow.", " smoke.", " silence."]),
    ("To keep basil fresh, stand the stems in a glass of", " water.", [" sand.", " vinegar.", " oil paint."]),
    ("The gardener watered the seedlings with a watering", " can.", [" knife.", " ladder.", " pillow."]),
    ("In winter the days are short and the nights are", " long.", [" loud.", " square.", " sweet."]),
    ("A dog that wags its tail is usually", " happy.", [" asleep.", " invisible.", " wooden."]),
    ("The library lends books to its", " members.", [" bricks.", " clouds.", " engines."]),
    ("Rain falls from the", " clouds.", [" ground.", " cupboard.", " pavement."]),
    ("The train left the station on", " time.", [" cheese.", " paper.", " purpose of sleep."]),
    ("She paid for the groceries with her bank", " card.", [" tree.", " shoe.", " window."]),
    ("A recipe lists the ingredients and the", " steps.", [" weather.", " rivers.", " mountains."]),
    ("The football match ended in a two-all", " draw.", [" soup.", " forest.", " bottle."]),
    ("Saving a little money every month builds an emergency", " fund.", [" storm.", " garden.", " song."]),
    ("Leaves turn red and gold in the", " autumn.", [" kettle.", " tunnel.", " morning paper."]),
    ("Cats often sleep for most of the", " day.", [" alphabet.", " orchestra.", " highway."]),
    ("The museum opened a new exhibition about local", " history.", [" plumbing.", " sneezes.", " traffic cones."]),
    ("Plants turn sunlight into food through", " photosynthesis.", [" photography.", " plumbing.", " parliament."]),
    ("A thermometer measures", " temperature.", [" distance.", " loudness.", " flavour."]),
    ("The chef chopped the onions with a sharp", " knife.", [" spoon.", " feather.", " pillow."]),
    ("The hikers reached the top of the", " hill.", [" sink.", " envelope.", " teacup."]),
    ("Two plus two equals", " four.", [" five.", " seven.", " twenty."]),
    ("Ten minus three equals", " seven.", [" six.", " nine.", " thirteen."]),
    ("Five times three equals", " fifteen.", [" eight.", " twelve.", " fifty."]),
    ("The month after January is", " February.", [" March.", " December.", " June."]),
    ("Soup is usually eaten with a", " spoon.", [" fork.", " hammer.", " comb."]),
    ("The baker took the loaves out of the", " oven.", [" river.", " drawer of socks.", " garden shed roof."]),
    ("Birds build their nests in", " trees.", [" kettles.", " shoes.", " bank vaults."]),
    ("At night the sky is dark and full of", " stars.", [" spoons.", " carpets.", " bicycles."]),
    ("A good night's sleep helps the body", " rest.", [" rust.", " shrink.", " dissolve."]),
    ("The reporter wrote an article for the local", " newspaper.", [" volcano.", " bathtub.", " lighthouse lamp."]),
    ("Ice cream melts quickly on a hot", " day.", [" glacier.", " plate of snow.", " winter night."]),
    ("The puppy learned to sit when its owner said", " sit.", [" fly.", " swim.", " sing."]),
    ("Farmers harvest wheat at the end of the", " summer.", [" sentence.", " corridor.", " telephone call."]),
    ("Boats float on", " water.", [" stone.", " bread.", " wool."]),
    ("You can borrow money from a bank, but you pay", " interest.", [" compliments.", " visits.", " attention to birds."]),
    ("The storm brought strong winds and heavy", " rain.", [" cake.", " silence.", " furniture."]),
    ("The opposite of hot is", " cold.", [" loud.", " early.", " green."]),
]


def make_multiple_choice(rng: random.Random) -> list[dict]:
    """The MC_ITEMS as lm-evaluation-harness-style rows, the right answer at a seeded position."""
    rows = []
    for context, right, wrong in MC_ITEMS:
        choices = list(wrong)
        label = rng.randrange(len(choices) + 1)
        choices.insert(label, right)
        rows.append({"context": context, "choices": choices, "label": label})
    return rows


EVAL_SUITE = """# The demo's evaluation suite: `llmkit eval CHECKPOINT --suite sample_data/eval/suite.toml -o OUT`
# Paths are relative to this file.

[[tasks]]
name = "everyday_mc"
path = "multiple_choice.jsonl"

[[tasks]]
name = "arithmetic"
path = "../prompts.jsonl"
"""



def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def planted_entries(pages: list[Page], placements: list[dict]) -> list[dict]:
    where = {p["url"]: p for p in placements}
    entries = []
    for page in pages:
        pl = where[page.url]
        e = {
            "url": page.url,
            "case": page.case,
            "expected": page.expected,
            "file": pl["file"],
            "warc_record_id": pl["warc_record_id"],
        }
        e.update(page.info)
        entries.append(e)
    order = {name: i for i, name in enumerate(WARC_FILES)}
    entries.sort(key=lambda e: (order[e["file"].split("/")[-1]], where[e["url"]]["response_index_in_file"]))
    return entries


def human_size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"


def make_readme(pages: list[Page], entries: list[dict], chat, prefs, prompts) -> str:
    from collections import Counter

    by_case = Counter(e["case"] for e in entries)
    by_expected = Counter(e["expected"] for e in entries)
    english_chars = sum(
        len(p.text or "")
        for p in pages
        if p.expected in ("keep", "pii", "dedup")
        or p.case
        in (
            "url_blocklist",
            "lorem_ipsum_placeholder",
            "curly_bracket",
            "duplicated_line",
            "truncated_record",
        )
    )
    files = sorted(
        f for f in OUT.rglob("*") if f.is_file() and f.name != "README.md" and "__pycache__" not in f.parts
    )
    lines = [
        "# sample_data",
        "",
        "Small, made-up data for the llmkit demo pipeline and its tests: a web crawl with planted",
        "curation cases, chat data for SFT, preference pairs for the reward model and DPO, and prompts",
        "with verifiable answers for PPO/GRPO.",
        "",
        "Everything here is synthetic and was written for llmkit: the hosts (`*.example`, `*.example.org`,",
        "`*.test`), towns, people, teams, books and countries are invented; the English prose is composed",
        "from hand-written sentence templates with slot fillers; the pages in other languages were written",
        "for this project. Facts in the science, pet and how-to articles are ordinary public knowledge.",
        "",
        "## Regenerating",
        "",
        "```",
        "python sample_data/make_sample_data.py",
        "```",
        "",
        "The script uses only the Python standard library (3.11+) and is deterministic: a fixed seed",
        f"(`SEED = {SEED}`) drives every choice, gzip members are written with `mtime=0`, and WARC dates",
        "are derived from the seed, so two runs give byte-identical files (with the same zlib build).",
        "It rewrites every file in this folder, this README included.",
        "",
        "## Files",
        "",
        "| file | size | what it is for |",
        "|---|---|---|",
    ]
    purpose = {
        "crawl/crawl-00000.warc.gz": "`llmkit crawl` input (WARC/1.0, one gzip member per record)",
        "crawl/crawl-00001.warc.gz": "`llmkit crawl` input",
        "crawl/crawl-00002.warc.gz": "`llmkit crawl` input; its last record is truncated on purpose",
        "planted.json": "ground truth: every response record's URL, case and expected fate",
        "chat.jsonl": "`llmkit sft` input (OpenAI `messages` format)",
        "prefs.jsonl": "`llmkit train-reward` / `llmkit dpo` input",
        "prompts.jsonl": "`llmkit grpo` / `llmkit eval` prompts with integer answers (exact match)",
        "eval/multiple_choice.jsonl": "`llmkit eval` multiple-choice task (context, choices, label): acc and acc_norm",
        "eval/suite.toml": "`llmkit eval --suite`: the demo's task list",
        "make_sample_data.py": "the generator",
        "grounded/docs.jsonl": "`llmkit index` input: landmark documents (id, url, text) that state the answers",
        "grounded/train.jsonl": "`llmkit sft` input: questions with retrieved sources in a context message",
        "grounded/heldout.jsonl": "the same for 80 held-out landmarks (no training question is about them)",
        "grounded/questions.jsonl": "`llmkit eval --retrieve`: held-out questions, answers, gold doc_id",
    }
    for f in files:
        rel = f.relative_to(OUT).as_posix()
        lines.append(f"| `{rel}` | {human_size(f.stat().st_size)} | {purpose.get(rel, '')} |")
    lines += [
        "",
        "## The crawl",
        "",
        f"{len(pages)} response records in {len(WARC_FILES)} files; each file starts with a `warcinfo` record,",
        "and most responses have a `request` record before them and a `metadata` record after them, as in",
        "Common Crawl. Records per file:",
        "",
        "| file | warcinfo | request | response | metadata |",
        "|---|---|---|---|---|",
    ]
    for name in WARC_FILES:
        c = WARC_STATS[name]
        lines.append(
            f"| `crawl/{name}` | {c.get('warcinfo', 0)} | {c.get('request', 0)} | "
            f"{c.get('response', 0)} | {c.get('metadata', 0)} |"
        )
    lines += [
        "",
        "Every HTML response is a full HTTP response (status line, headers with `Content-Type: text/html;",
        "charset=...`, body). `WARC-Identified-Payload-Type` is present on about three quarters of the",
        "responses. `WARC-Payload-Digest` and `WARC-Block-Digest` are real SHA-1 digests (base32).",
        "The last record of `crawl-00002.warc.gz` is a response whose gzip member is cut at 55%: a reader",
        "must keep every record before it and report (not crash on) the truncated one. Python's `gzip`",
        "module raises `EOFError` on that member; `warcio` does not raise, it yields the record with a",
        "short payload, so compare the bytes read with the HTTP `Content-Length` header (or the WARC",
        "`Content-Length`) to detect it.",
        "",
        f"About {english_chars / 1e6:.2f} MB of English article text is in the pages (before extraction).",
        "",
        "## Planted cases and expected fates",
        "",
        "`planted.json` is a JSON list with one object per response record, in crawl order:",
        "`url`, `case`, `expected`, `file`, `warc_record_id`, plus case-specific fields:",
        "`topic`; `dup_group`, `role`, `dup_of`, `changes` (dedup); `pii` (the exact strings, by kind);",
        "`encoding`, `declared_charset`, `must_contain` (decoding); `language`; `signal` (the filter",
        "signal that should fire); `c4_removed_lines`; `location` (redirects); `also_ok` (other fates",
        "that are acceptable for a few inherently fuzzy cases, e.g. a two-word page may be dropped by",
        "extraction or by language ID instead of the Gopher word count).",
        "",
        "`expected` values:",
        "",
    ]
    for k, v in EXPECTED_DOCS.items():
        lines.append(f"- `{k}` ({by_expected.get(k, 0)} pages): {v}")
    lines += [
        "",
        "Expected filter fates assume the FineWeb order and datatrove's default thresholds: URL filter,",
        "trafilatura extraction (`favor_precision=True`), fastText language ID (English, score >= 0.65),",
        "Gopher repetition, Gopher quality, C4 quality, FineWeb quality, then MinHash dedup (5-gram",
        "shingles, 14 bands x 8 rows) and PII scrubbing. Each planted filter case fails its own filter",
        "and passes every filter before it; most fail nothing else either. This was checked with",
        "datatrove's filter classes, fastText `lid.176.ftz` and trafilatura, with `favor_precision` on",
        "and off and with trafilatura's `deduplicate` on and off. Exact and near duplicates have a",
        "Jaccard similarity of 0.94 or more on 5-gram word shingles, while any two distinct articles",
        "stay at about 0.2 or below. Duplicate originals are written early in `crawl-00000`, their",
        'copies in the later files, so "keep the first one seen" keeps the original.',
        "",
        "If trafilatura runs with `deduplicate=True`, note that its duplicate cache is process-wide:",
        "extracting the same crawl twice in one process drops repeated paragraphs the second time.",
        "",
        "| case | pages | expected | what it tests |",
        "|---|---|---|---|",
    ]
    exp_of = {}
    for e in entries:
        exp_of.setdefault(e["case"], set()).add(e["expected"])
    for case in CASE_DOCS:
        if by_case.get(case):
            lines.append(
                f"| `{case}` | {by_case[case]} | {', '.join(sorted(exp_of[case]))} | {CASE_DOCS[case]} |"
            )
    lines += ["", "### Duplicate groups", ""]
    groups: dict[str, list[dict]] = {}
    for e in entries:
        if "dup_group" in e:
            groups.setdefault(e["dup_group"], []).append(e)
    for g in sorted(groups):
        lines.append(f"- `{g}`:")
        for e in groups[g]:
            lines.append(f"  - `{e['expected']}` {e['url']}")
    lines += ["", "### PII pages", ""]
    for e in entries:
        if e["case"] == "pii":
            flat = "; ".join(f"{k}: " + ", ".join(f"`{x}`" for x in v) for k, v in e["pii"].items())
            lines.append(f"- {e['url']}  ")
            lines.append(f"  {flat}")
    lines += [
        "",
        "The public IP addresses are well-known public DNS resolvers; `192.168.1.1` is private (a scrubber",
        "that only removes public addresses keeps it). `4111 1111 1111 1111` and `5500 0000 0000 0004` are",
        "standard test card numbers that pass the Luhn check; `4111 1111 1111 1112` fails it. Phone numbers",
        "use ranges reserved for fiction (US 555-01xx, UK 020 7946 0xxx and 0161 496 0xxx, AU 02 5550 xxxx).",
        "",
        "## Notes for test writers",
        "",
        "- Match planted cases to pipeline rows by `url` (every URL is unique) or by `warc_record_id`.",
        "- `pii` pages pass every filter (treat them as `keep` in filter tests); after scrubbing, none of",
        "  the strings listed under `pii` should remain, except possibly `ipv4_private` and the",
        "  Luhn-invalid card number if the scrubber checks for public addresses and valid card numbers.",
        "- `c4_lines_removed` pages are kept, but datatrove-style C4 line filtering removes the two",
        "  `c4_removed_lines` from their text.",
        "- `must_contain` strings should appear in the extracted text: they check that the page was",
        "  decoded with the right charset.",
        "- `also_ok` lists other fates that are fine for inherently fuzzy pages (tiny or link-only pages",
        "  may be dropped by extraction, language ID or the Gopher top-2-gram check before the word",
        "  count); every other case should end exactly at `expected`.",
        "- Everything not planted is a `keep` article (`case: article`, with its `topic`).",
        "",
        "## chat.jsonl",
        "",
        f'{len(chat)} conversations, one JSON object per line: `{{"messages": [{{"role": ..., "content": ...}}, ...]}}`.',
        f"{sum(1 for c in chat if sum(m['role'] == 'user' for m in c['messages']) > 1)} are multi-turn and "
        f"{sum(1 for c in chat if c['messages'][0]['role'] == 'system')} start with a system message.",
        "Topics: greetings, one-digit sums and comparisons (the largest share), arithmetic with the answer,",
        "unit conversions, capitals of made-up countries",
        "(always the same pairs, e.g. Veltoria and Marenhold), definitions, facts from the article topics,",
        'opposites, letter counts, and "repeat after me". Assistant replies are one to three polite sentences.',
        "",
        "## prefs.jsonl",
        "",
        f'{len(prefs)} pairs: `{{"prompt": [{{"role": "user", ...}}], "chosen": ..., "rejected": ...}}`.',
        "`chosen` is the polite, correct, complete answer. `rejected` cycles through six kinds of bad",
        "answer: wrong (a wrong number, capital, letter count or opposite), rude, off-topic, empty-ish,",
        "repetitive, and a needless refusal.",
        "",
        "## prompts.jsonl",
        "",
        f'{len(prompts)} prompts: `{{"prompt": [{{"role": "user", "content": "What is 23 + 58?"}}], "answer": "81"}}`.',
        "About 20% are one-digit sums and differences and 20% ask for the larger or smaller of two digits",
        "(easy enough that a tiny SFT model gets some right, so GRPO has correct answers to reinforce); the",
        "rest are addition and subtraction of numbers up to 999, multiplication up to 12 x 25, and one- or",
        "two-step word problems. Every answer is a non-negative integer written as a string.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- grounded QA (retrieval)

GROUNDED_DIR = OUT / "grounded"
# passages in each context message: one keeps the prompt short enough for the tiny demo model to learn
# to copy from (BM25 ranks the gold passage first for every sample question); eval it with --retrieve-k 1
GROUNDED_K = 1
GROUNDED_SYLLABLES = ["ka", "vel", "dor", "mi", "tra", "sen", "lo", "bar", "qui", "nes", "ho", "rin", "zu", "fal",
                      "pe", "gor", "ta", "wen", "ul", "cas", "bri", "mon", "ye", "dal", "sho", "ver", "ni", "kel"]  # fmt: skip
GROUNDED_KINDS = ["Tower", "Bridge", "Library", "Mill", "Lighthouse", "Museum", "Chapel", "Observatory"]
GROUNDED_FILLERS = [
    "Visitors often stop there on the way to the market.",
    "Its stone was brought from a quarry up the valley.",
    "Local guides tell a story about it every summer.",
    "The path to it is lined with old chestnut trees.",
    "Painters like the view of it in the early morning.",
    "The town council repaired its roof a few years ago.",
]
# (relation, question templates, answer template); each document states every relation once
GROUNDED_FACTS = [
    ("built", ["When was the {name} built?", "In what year was the {name} built?"], "It was built in {value}."),
    ("height", ["How tall is the {name}?", "What is the height of the {name} in metres?"],
     "It is {value} metres tall."),
    ("staff", ["How many people work at the {name}?", "How many staff does the {name} have?"],
     "{value} people work there."),
]  # fmt: skip


def make_grounded_docs(rng: random.Random, n: int = 400) -> list[dict]:
    """Invented landmarks, one short document each, whose text states its year built, height and staff."""
    names: set[str] = set()
    docs = []
    while len(docs) < n:
        name = "".join(rng.choice(GROUNDED_SYLLABLES) for _ in range(rng.choice((2, 3)))).title()
        kind = rng.choice(GROUNDED_KINDS)
        if name in names:
            continue
        names.add(name)
        full = f"{name} {kind}"
        values = {"built": str(rng.randint(1700, 1990)), "height": str(rng.randint(12, 380)),
                  "staff": str(rng.randint(3, 95))}  # fmt: skip
        town = rng.choice(TOWNS)
        text = "\n".join([
            f"The {full} stands in {town}. {rng.choice(GROUNDED_FILLERS)}",
            f"The {full} was built in {values['built']}. It is {values['height']} metres tall.",
            f"About {values['staff']} people work at the {full}. {rng.choice(GROUNDED_FILLERS)}",
        ])  # fmt: skip
        doc_id = f"landmark-{len(docs):04d}"
        docs.append({"id": doc_id, "url": f"https://landmarks.example/{slugify(full)}", "text": text,
                     "name": full, **values})  # fmt: skip
    return docs


def make_grounded_questions(rng: random.Random, docs: list[dict]) -> list[dict]:
    """One question per (document, relation): {question, answer, doc_id, reply}."""
    rows = []
    for doc in docs:
        for relation, templates, reply in GROUNDED_FACTS:
            rows.append({
                "question": rng.choice(templates).format(name=doc["name"]),
                "answer": doc[relation],
                "doc_id": doc["id"],
                "reply": reply.format(value=doc[relation]),
            })  # fmt: skip
    return rows


def write_grounded_qa(heldout_fraction: float = 0.2) -> None:
    """sample_data/grounded/: documents, and questions whose answers they state, as SFT chat data with
    the context message filled in by llmkit's own retrieval (index + top passages + the numbered-sources
    template of llmkit.retrieval), split by document into train and held-out (no training question is
    about a held-out landmark, so a model can only answer those by reading its context).

    Unlike the rest of this script this part needs llmkit installed (bm25s): run it with the project's
    venv, `.venv/bin/python sample_data/make_sample_data.py`.
    """
    import sys
    import tempfile

    sys.path.insert(0, str(OUT.parent))
    from llmkit.data.index import run_index
    from llmkit.retrieval import ground, open_index

    rng = random.Random(SEED + 17)
    docs = make_grounded_docs(rng)
    questions = make_grounded_questions(rng, docs)
    n_heldout = int(len(docs) * heldout_fraction)
    heldout_ids = {d["id"] for d in docs[-n_heldout:]}
    GROUNDED_DIR.mkdir(exist_ok=True)
    write_jsonl(GROUNDED_DIR / "docs.jsonl", [{k: d[k] for k in ("id", "url", "text")} for d in docs])
    with tempfile.TemporaryDirectory() as tmp:
        run_index([GROUNDED_DIR / "docs.jsonl"], Path(tmp) / "index", workers=1, show_progress=False)
        index = open_index(Path(tmp) / "index")
        grounded, _ = ground(index, [q["question"] for q in questions], GROUNDED_K)
    chats = {"train": [], "heldout": []}
    for q, messages in zip(questions, grounded, strict=True):
        split = "heldout" if q["doc_id"] in heldout_ids else "train"
        chats[split].append({"messages": [*messages, {"role": "assistant", "content": q["reply"]}]})
    rng.shuffle(chats["train"])
    write_jsonl(GROUNDED_DIR / "train.jsonl", chats["train"])
    write_jsonl(GROUNDED_DIR / "heldout.jsonl", chats["heldout"])
    write_jsonl(
        GROUNDED_DIR / "questions.jsonl",
        [{k: q[k] for k in ("question", "answer", "doc_id")} for q in questions if q["doc_id"] in heldout_ids],
    )
    print(f"wrote {len(docs)} grounded documents, {len(chats['train'])} train and {len(chats['heldout'])} "
          f"held-out grounded chats to {GROUNDED_DIR}")  # fmt: skip


TOOLS_DIR = OUT / "tools"


def multi_digit_problem(rng: random.Random) -> tuple[str, str, int]:
    """(question, calculator expression, answer): sums and differences of 3–4-digit numbers and
    products of a 3–4-digit and a 2–3-digit number, beyond what a tiny model can do in its head."""
    kind = rng.choice(["add", "sub", "mul"])
    a = rng.randint(100, 9999)
    if kind == "add":
        b = rng.randint(100, 9999)
        q = rng.choice([f"What is {a} + {b}?", f"What is {a} plus {b}?", f"Add {a} and {b}.", f"Compute {a} + {b}."])
        return q, f"{a} + {b}", a + b
    if kind == "sub":
        b = rng.randint(100, 9999)
        a, b = max(a, b), min(a, b)
        q = rng.choice([f"What is {a} - {b}?", f"What is {a} minus {b}?", f"Subtract {b} from {a}."])
        return q, f"{a} - {b}", a - b
    b = rng.randint(11, 999)
    q = rng.choice([f"What is {a} * {b}?", f"What is {a} times {b}?", f"Multiply {a} by {b}."])
    return q, f"{a} * {b}", a * b


def calculator_transcript(question: str, expression: str, answer: int, calculator: dict) -> dict:
    """One OpenAI-format conversation: the assistant calls the calculator, reads its result, answers."""
    call = {"id": "call_1", "type": "function",
            "function": {"name": "calculator", "arguments": json.dumps({"expression": expression})}}  # fmt: skip
    return {
        "tools": [calculator],
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": str(answer)},
            {"role": "assistant", "content": f"The answer is {answer}."},
        ],
    }


def write_tool_data(n_train: int = 3000, n_prompts: int = 400, n_heldout: int = 200) -> None:
    """sample_data/tools/: calculator transcripts for SFT (train.jsonl), multi-digit problems with
    answers for GRPO (prompts.jsonl), and held-out problems (heldout.jsonl) whose operand pairs occur
    in neither. Regenerate only these with `python -c "import make_sample_data as m; m.write_tool_data()"`
    from sample_data/. Like the grounded data it needs llmkit installed: the transcripts carry the
    schema of llmkit's own calculator, exactly as `--tools calculator` puts it in the prompt."""
    import sys

    sys.path.insert(0, str(OUT.parent))
    from llmkit.tools import calculator_tool

    calculator = calculator_tool().schema
    rng = random.Random(SEED + 16)
    seen: set[str] = set()
    problems = []
    while len(problems) < n_train + n_prompts + n_heldout:
        question, expression, answer = multi_digit_problem(rng)
        if expression not in seen:  # every problem is new: held-out ones share no operands and operator
            seen.add(expression)
            problems.append((question, expression, answer))
    train, prompts, heldout = (
        problems[:n_train], problems[n_train : n_train + n_prompts], problems[n_train + n_prompts :]
    )  # fmt: skip
    TOOLS_DIR.mkdir(exist_ok=True)
    write_jsonl(TOOLS_DIR / "train.jsonl", [calculator_transcript(*p, calculator) for p in train])
    for name, rows in (("prompts.jsonl", prompts), ("heldout.jsonl", heldout)):
        write_jsonl(TOOLS_DIR / name, [{"prompt": [{"role": "user", "content": q}], "answer": str(a)} for q, _, a in rows])
    print(f"wrote {len(train)} calculator transcripts, {len(prompts)} prompts and {len(heldout)} held-out "
          f"problems to {TOOLS_DIR}")  # fmt: skip


def main() -> None:
    CRAWL_DIR.mkdir(parents=True, exist_ok=True)
    for stale in CRAWL_DIR.glob("*.warc.gz"):
        if stale.name not in WARC_FILES:
            stale.unlink()
    pages = PageBuilder(random.Random(SEED)).build()
    placements = write_warcs(pages, random.Random(SEED + 1))
    entries = planted_entries(pages, placements)
    (OUT / "planted.json").write_text(
        json.dumps(entries, indent=1, ensure_ascii=False) + "\n", encoding="utf-8", newline="\n"
    )
    chat = make_chat(random.Random(SEED + 2))
    prefs = make_prefs(random.Random(SEED + 3))
    prompts = make_prompts(random.Random(SEED + 4))
    write_jsonl(OUT / "chat.jsonl", chat)
    write_jsonl(OUT / "prefs.jsonl", prefs)
    write_jsonl(OUT / "prompts.jsonl", prompts)
    (OUT / "eval").mkdir(exist_ok=True)
    write_jsonl(OUT / "eval" / "multiple_choice.jsonl", make_multiple_choice(random.Random(SEED + 5)))
    (OUT / "eval" / "suite.toml").write_text(EVAL_SUITE, encoding="utf-8", newline="\n")
    write_grounded_qa()
    write_tool_data()
    (OUT / "README.md").write_text(
        make_readme(pages, entries, chat, prefs, prompts), encoding="utf-8", newline="\n"
    )
    print(
        f"wrote {len(pages)} pages into {len(WARC_FILES)} WARC files, {len(chat)} conversations, "
        f"{len(prefs)} preference pairs, {len(prompts)} prompts to {OUT}"
    )


if __name__ == "__main__":
    main()
