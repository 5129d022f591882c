"""Pages that look like the real web, for the curation benchmark: one WARC of N response records.

    .venv/bin/python benchmarks/web_pages.py OUT.warc.gz [--pages 1000] [--seed 0]

Each page is 20-200 KB of HTML shaped like a news or blog page as crawled: a long <head> (meta
tags, inline CSS, several inline scripts, JSON-LD), a cookie banner, a navigation bar and mega-menu
of many links, a sidebar, the article (headings, paragraphs, sometimes a table and a list), a
comments section, related links and a long footer. Languages: English (about 60%), German, French,
Spanish, Russian and Japanese, served in utf-8 or the legacy charset their sites still use
(iso-8859-1, windows-1251, shift_jis), declared in both the HTTP header and a <meta> tag. Some pages
are thin (little article text, mostly navigation) or repeat boilerplate lines, as real crawls do.

All text is composed here from our own sentence templates; nothing is copied from real sites.
Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import io
import random
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# fmt: off
SUBJECTS = {
    "en": ["The council", "A local bakery", "The river trust", "Our reporter", "The school board",
           "A small museum", "The cycling club", "The new library", "Volunteers", "The harbour office"],
    "de": ["Der Stadtrat", "Eine kleine Bäckerei", "Der Flussverein", "Unsere Reporterin", "Die Schulleitung",
           "Das Heimatmuseum", "Der Radsportverein", "Die neue Bibliothek", "Freiwillige Helfer", "Das Hafenamt"],
    "fr": ["Le conseil municipal", "Une petite boulangerie", "L'association du fleuve", "Notre journaliste",
           "La direction de l'école", "Le musée régional", "Le club cycliste", "La nouvelle médiathèque",
           "Des bénévoles", "La capitainerie"],
    "es": ["El ayuntamiento", "Una pequeña panadería", "La asociación del río", "Nuestra periodista",
           "La dirección del colegio", "El museo local", "El club ciclista", "La nueva biblioteca",
           "Los voluntarios", "La oficina del puerto"],
    "ru": ["Городской совет", "Небольшая пекарня", "Общество защиты реки", "Наш корреспондент",
           "Руководство школы", "Краеведческий музей", "Велосипедный клуб", "Новая библиотека",
           "Добровольцы", "Управление порта"],
    "ja": ["市議会は", "小さなパン屋は", "川の保全団体は", "本紙の記者は", "学校の理事会は",
           "地元の博物館は", "自転車クラブは", "新しい図書館は", "ボランティアの人たちは", "港の事務所は"],
}
PREDICATES = {
    "en": ["opened a new reading room on the east side of town", "announced longer opening hours for the winter",
           "asked residents to share their memories of the old bridge", "planted forty young trees along the path",
           "collected more than three hundred books for the school", "repaired the roof after the autumn storms",
           "published a plan for safer crossings near the market", "invited families to a free open day",
           "counted the birds that nest under the railway arches", "restored the clock above the town hall"],
    "de": ["hat einen neuen Lesesaal im Osten der Stadt eröffnet", "verlängert die Öffnungszeiten im Winter",
           "bittet die Bürger um Erinnerungen an die alte Brücke", "hat vierzig junge Bäume am Weg gepflanzt",
           "sammelte mehr als dreihundert Bücher für die Schule", "reparierte das Dach nach den Herbststürmen",
           "stellte einen Plan für sichere Übergänge am Markt vor", "lädt Familien zu einem Tag der offenen Tür ein",
           "zählte die Vögel unter den Bahnbögen", "ließ die Uhr über dem Rathaus restaurieren"],
    "fr": ["a ouvert une nouvelle salle de lecture à l'est de la ville", "prolonge ses horaires pendant l'hiver",
           "demande aux habitants leurs souvenirs du vieux pont", "a planté quarante jeunes arbres le long du chemin",
           "a réuni plus de trois cents livres pour l'école", "a réparé le toit après les tempêtes d'automne",
           "a présenté un projet de passages plus sûrs près du marché", "invite les familles à une journée portes ouvertes",
           "a compté les oiseaux qui nichent sous les arches", "a fait restaurer l'horloge de la mairie"],
    "es": ["abrió una nueva sala de lectura en el este de la ciudad", "amplía su horario durante el invierno",
           "pide a los vecinos sus recuerdos del puente viejo", "plantó cuarenta árboles jóvenes junto al camino",
           "reunió más de trescientos libros para la escuela", "reparó el tejado después de las tormentas de otoño",
           "presentó un plan para cruces más seguros junto al mercado", "invita a las familias a una jornada de puertas abiertas",
           "contó los pájaros que anidan bajo los arcos del tren", "restauró el reloj del ayuntamiento"],
    "ru": ["открыл новый читальный зал на востоке города", "продлевает часы работы на зиму",
           "просит жителей поделиться воспоминаниями о старом мосте", "посадил сорок молодых деревьев вдоль тропы",
           "собрал более трёхсот книг для школы", "отремонтировал крышу после осенних бурь",
           "представил план безопасных переходов у рынка", "приглашает семьи на день открытых дверей",
           "подсчитал птиц, гнездящихся под железнодорожными арками", "отреставрировал часы над ратушей"],
    "ja": ["町の東側に新しい閲覧室を開いた。", "冬の間の開館時間を延長すると発表した。",
           "古い橋の思い出を住民に呼びかけている。", "小道に沿って四十本の若木を植えた。",
           "学校のために三百冊以上の本を集めた。", "秋の嵐の後で屋根を修理した。",
           "市場の近くに安全な横断歩道を作る計画を公表した。", "家族向けの無料公開日を開く。",
           "鉄道の高架下に巣を作る鳥を数えた。", "市役所の上の時計を修復した。"],
}
CONNECTIVES = {
    "en": ["According to the organisers,", "Last week,", "In a short statement,", "By the end of the month,", ""],
    "de": ["Nach Angaben der Veranstalter", "Vergangene Woche", "In einer kurzen Mitteilung", "Bis Ende des Monats", ""],
    "fr": ["Selon les organisateurs,", "La semaine dernière,", "Dans un bref communiqué,", "D'ici la fin du mois,", ""],
    "es": ["Según los organizadores,", "La semana pasada,", "En un breve comunicado,", "Antes de fin de mes,", ""],
    "ru": ["По словам организаторов,", "На прошлой неделе", "В коротком заявлении", "К концу месяца", ""],
    "ja": ["主催者によると、", "先週、", "短い声明の中で、", "今月末までに、", ""],
}
NAV = {
    "en": ["Home", "News", "Sport", "Culture", "Opinion", "Weather", "Travel", "Subscribe", "Log in", "Contact"],
    "de": ["Startseite", "Nachrichten", "Sport", "Kultur", "Meinung", "Wetter", "Reisen", "Abo", "Anmelden", "Kontakt"],
    "fr": ["Accueil", "Actualités", "Sport", "Culture", "Opinions", "Météo", "Voyage", "S'abonner", "Connexion", "Contact"],
    "es": ["Inicio", "Noticias", "Deportes", "Cultura", "Opinión", "Tiempo", "Viajes", "Suscríbete", "Entrar", "Contacto"],
    "ru": ["Главная", "Новости", "Спорт", "Культура", "Мнения", "Погода", "Путешествия", "Подписка", "Войти", "Контакты"],
    "ja": ["ホーム", "ニュース", "スポーツ", "文化", "オピニオン", "天気", "旅行", "購読", "ログイン", "お問い合わせ"],
}
# language, share of pages, charsets its sites are served in
LANGUAGES = [("en", 0.6, ["utf-8"]), ("de", 0.1, ["utf-8", "iso-8859-1"]), ("fr", 0.08, ["utf-8", "iso-8859-1"]),
             ("es", 0.08, ["utf-8", "iso-8859-1"]), ("ru", 0.08, ["utf-8", "windows-1251"]),
             ("ja", 0.06, ["utf-8", "shift_jis"])]  # fmt: skip

SCRIPT = (
    "(function(w,d){var q=w.analyticsQueue=w.analyticsQueue||[];function track(e,p){q.push({e:e,p:p,"
    "t:Date.now()});}w.addEventListener('scroll',function(){track('scroll',w.scrollY);});"
    "d.querySelectorAll('a').forEach(function(a){a.addEventListener('click',function(){track('click',"
    "a.href);});});})(window,document);\n"
)
# fmt: on
CSS = ".nav a{padding:4px 8px;color:#333}.card{border:1px solid #ddd;margin:8px}.footer li{display:inline}\n"


# English, the language the filters keep, is composed from short slots so that its 5-grams rarely
# repeat (Gopher's repetition filter would rightly drop text made of a few fixed sentences).
# fmt: off
EN_SLOTS = {
    "name": ["Maria Okafor", "Tom Lindqvist", "Priya Raman", "Jonas Weber", "Aisha Bello", "Sam Carter",
             "Lena Novak", "Omar Haddad", "Grace Lee", "Pablo Ruiz", "Nina Petrova", "Ken Mori"],
    "role": ["the head teacher", "a retired engineer", "the parish clerk", "a young farmer", "the ferry captain",
             "a nurse", "the shop owner", "a student", "the town planner", "a beekeeper"],
    "verb": ["described", "measured", "repainted", "questioned", "rebuilt", "mapped", "photographed",
             "cleaned", "funded", "surveyed", "moved", "opened", "closed", "checked", "planned"],
    "object": ["the old footbridge", "two empty warehouses", "a community garden", "the flooded meadow",
               "seven bus shelters", "the chapel organ", "a stretch of canal", "the market hall roof",
               "three tennis courts", "the lighthouse steps", "a row of cottages", "the village pond"],
    "place": ["near the station", "behind the mill", "on Harbour Street", "at the county show",
              "beside the school", "across the valley", "in the north ward", "outside the bakery"],
    "time": ["on Tuesday", "before dawn", "last spring", "in heavy rain", "over the weekend",
             "after lunch", "in 1998", "this month", "every autumn", "since March"],
    "tail": ["because funding finally arrived", "while neighbours watched", "despite the cold",
             "with help from the rowing club", "to everyone's surprise", "as the plans required",
             "for about {n} pounds", "in roughly {n} hours", "with {n} volunteers", "ahead of schedule"],
}
# fmt: on


def english_sentence(rng: random.Random) -> str:
    def pick(slot: str) -> str:
        return rng.choice(EN_SLOTS[slot]).replace("{n}", str(rng.randint(2, 4000)))

    who = pick("name") if rng.random() < 0.5 else pick("role").capitalize()
    parts = [who, pick("verb"), pick("object")]
    parts += [pick(s) for s in rng.sample(["place", "time", "tail"], rng.randint(1, 3))]
    return " ".join(parts) + rng.choice([".", ".", ".", "!", "?"] if rng.random() < 0.1 else ["."])


def sentence(rng: random.Random, lang: str) -> str:
    if lang == "en":
        return english_sentence(rng)
    opener = rng.choice(CONNECTIVES[lang])
    subject, predicate = rng.choice(SUBJECTS[lang]), rng.choice(PREDICATES[lang])
    if lang == "ja":
        return f"{opener}{subject}{predicate}"
    return f"{opener} {subject} {predicate}.".strip() if opener else f"{subject} {predicate}."


def paragraph(rng: random.Random, lang: str) -> str:
    sep = "" if lang == "ja" else " "
    return sep.join(sentence(rng, lang) for _ in range(rng.randint(3, 7)))


def links(rng: random.Random, lang: str, n: int, site: str) -> str:
    words = NAV[lang]
    return "".join(
        f'<li><a href="https://{site}/{rng.choice(words).lower()}/{rng.randint(1, 99999)}">'
        f"{rng.choice(words)} {rng.randint(1, 999)}</a></li>"
        for _ in range(n)
    )


def page(rng: random.Random, i: int) -> tuple[str, str, str]:
    """(url, charset, html) of page i."""
    r, lang, charsets = rng.random(), "en", ["utf-8"]
    for lang, share, charsets in LANGUAGES:  # noqa: B007 - the loop picks by cumulative share
        if r < share:
            break
        r -= share
    charset = rng.choice(charsets)
    site = f"{lang}-site{rng.randint(1, 40)}.example"
    url = f"https://{site}/{rng.choice(['news', 'blog', 'local', 'story'])}/{i}-{rng.randint(1000, 9999)}"
    thin = rng.random() < 0.1  # navigation-heavy pages with little article text
    n_paragraphs = rng.randint(1, 2) if thin else rng.randint(6, 30)
    title = sentence(rng, lang)[:80]
    head = [f'<meta charset="{charset}">', f"<title>{title}</title>"]
    head += [
        f'<meta name="keyword{k}" content="{rng.choice(NAV[lang])}">' for k in range(rng.randint(10, 40))
    ]
    head += [f"<style>{CSS * rng.randint(20, 120)}</style>"]
    head += [f"<script>{SCRIPT * rng.randint(5, 40)}</script>" for _ in range(rng.randint(2, 6))]
    head += [
        '<script type="application/ld+json">{"@type":"NewsArticle","headline":"'
        + title.replace('"', "")
        + '"}</script>'
    ]
    article = [
        f"<h1>{title}</h1>",
        f'<p class="byline">{rng.choice(SUBJECTS[lang])} · {rng.randint(1, 28)}.{rng.randint(1, 12)}.2024</p>',
    ]
    for k in range(n_paragraphs):
        if k and k % 7 == 0:
            article.append(f"<h2>{sentence(rng, lang)[:60]}</h2>")
        article.append(f"<p>{paragraph(rng, lang)}</p>")
        if rng.random() < 0.08:
            rows = "".join(
                f"<tr><td>{rng.choice(NAV[lang])}</td><td>{rng.randint(1, 999)}</td><td>{rng.randint(1, 99)}%</td></tr>"
                for _ in range(rng.randint(3, 12))
            )
            article.append(f"<table><tr><th>{NAV[lang][1]}</th><th>n</th><th>%</th></tr>{rows}</table>")
        if rng.random() < 0.05:
            article.append(
                "<ul>"
                + "".join(f"<li>{sentence(rng, lang)}</li>" for _ in range(rng.randint(3, 6)))
                + "</ul>"
            )
    comments = "".join(
        f'<div class="comment"><b>user{rng.randint(1, 9999)}</b><p>{sentence(rng, lang)}</p></div>'
        for _ in range(rng.randint(0, 25))
    )
    body = (
        '<div id="cookie-banner">We use cookies to improve your experience. <button>Accept all</button></div>'
        f'<header><nav class="nav"><ul>{links(rng, lang, rng.randint(30, 200), site)}</ul></nav></header>'
        f'<aside class="sidebar"><ul>{links(rng, lang, rng.randint(10, 60), site)}</ul></aside>'
        f"<main><article>{''.join(article)}</article>"
        f'<section class="comments"><h3>Comments</h3>{comments}</section>'
        f'<section class="related"><ul>{links(rng, lang, rng.randint(10, 40), site)}</ul></section></main>'
        f'<footer class="footer"><ul>{links(rng, lang, rng.randint(40, 200), site)}</ul>'
        f"<p>© 2024 {site}. All rights reserved.</p></footer>"
        f"<script>{SCRIPT * rng.randint(2, 10)}</script>"
    )
    html = f'<!DOCTYPE html><html lang="{lang}"><head>{"".join(head)}</head><body>{body}</body></html>'
    while len(html.encode("utf-8")) < 20_000:  # the 20 KB floor: pad with more menu, as big sites do
        html = html.replace("</footer>", f"<ul>{links(rng, lang, 50, site)}</ul></footer>", 1)
    return url, charset, html[:200_000] if len(html) > 200_000 else html


def write_warc(path: Path, pages: int, seed: int = 0) -> Path:
    """Write `pages` response records (gzip WARC, one member per record) to `path`."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i in range(pages):
            url, charset, html = page(rng, i)
            body = html.encode(charset, errors="xmlcharrefreplace")
            headers = StatusAndHeaders(
                "200 OK",
                [("Content-Type", f"text/html; charset={charset}"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers
            )
            writer.write_record(record)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_warc(args.out, args.pages, args.seed)
    print(f"wrote {args.pages} pages to {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
