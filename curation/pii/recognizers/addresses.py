"""Street addresses (with the lines of an address block), postal codes, and places named
after a verb of living or travelling."""

from __future__ import annotations

import regex
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from curation.pii.recognizers.base import FLAGS, LINE_LEAD, RegexRecognizer, Rule

# ---------------------------------------------------------------------------------------------
# Street addresses

_STREET_SUFFIX = (
    "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Square|"
    "Sq|Terrace|Ter|Way|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Close|Crescent|Cres|Alley|Aly|"
    "Trail|Trl|Row|Walk|Gardens|Grove|Hill|Hills|Park|Plaza|Bypass|Gateway|Loop|Pike|"
    "Expressway|Expy|Freeway|Fwy|Heights|Hts|Point|Pt|Ridge|Run|View|Vista|Mews|Wharf|Quay|"
    "Crossing|Junction|Jct|Mall|Manor|Meadow|Meadows|Mill|Mills|Pass|Path|Port|Ranch|Shore|"
    "Shores|Spring|Springs|Summit|Track|Turnpike|Tpke|Valley|Village|Green|Common|Center|"
    "Centre|Cove|Creek|Estate|Estates|Field|Fields|Forest|Glen|Harbor|Harbour|Haven|Island|"
    "Isle|Knoll|Lake|Landing|Lodge|Orchard|Oval|Rise|Spur|Vale|Brook|Canyon|Cape|Causeway|"
    "Cliff|Corner|Corners|Curve|Dale|Falls|Ferry|Ford|Fork|Fort|Garden|Gate|Hollow|Inlet|Key|"
    "Neck|Prairie|Ramp|Route|Skyway|Stream|Trace|Tunnel|Bridge|Bluff|Branch|Bend|Beach|"
    "Arcade|Ways|Wynd|Chase|Drove|Parade|Esplanade|Embankment|Broadway|Str"
)
# Street-type words that other languages write before the name ("rue de la Paix 3").
_STREET_PREFIX = (
    r"rue|rua|r\.|avenue|avenida|avda\.?|av\.|calle|c/|carrer|camino|paseo|plaza|ronda|"
    r"carretera|travesía|via|viale|vicolo|piazza|piazzale|largo|corso|strada|praça|travessa|"
    r"estrada|alameda|ul\.|ulica|al\.|aleja|os\.|osiedle|pl\.|plac|bd\.|bulevar|chemin|"
    r"impasse|allée|place|quai|route|platz|straße|strasse|str\.|náměstí|nám\.|ulitsa|"
    r"prospekt|pr\.|πλατεία|οδός|λεωφόρος|odos|cesta|utca|sokak|caddesi|cad\.|sok\.|trg|"
    r"ulica|ulice|calea|strada|bulevardul|aleea|şoseaua|soseaua"
)
# Prefixes that are also English words ("via email", "en route", "in place"): only capitalised.
_ENGLISH_PREFIX = r"(?!(?:via|route|place|largo|corso|avenue|plaza)[ \t])"
# Street-type words that other languages glue to the end of the name ("Hauptstraße 5").
_STREET_WORD_END = (
    r"strasse|straße|str\.|weg|gasse|platz|allee|ring|damm|ufer|steig|laan|straat|plein|"
    r"gracht|kade|dreef|singel|steeg|gade|gata|gatan|vägen|väg|veien|vei|vej|stræde|stræti|"
    r"straeti|vegur|gränd|katu|tie|kuja|polku|kaari|raitti|tee|puiestee|utca|út|ulica|"
    r"cesta|ulice|třída|sokak|sokağ\u0131|caddesi|bulvar\u0131|iela|gatvė|prospektas|tér|u\.|krt\.|"
    r"körút|köz|sor|trg|gate|vegen|vägen|tanav|maantee"
)
_DIRECTION = r"(?:[ \t]+(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\b\.?)?"
_UNIT = (
    r"(?:\d{1,2}[º°ª](?:[ \t]?[A-Z])?(?![\p{L}\d])|"
    r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Fl\.?|Floor|Room|Rm\.?|Bldg\.?|Building|"
    r"Box|Lot|Dept\.?|#)[ \t]*#?[ \t]*[\p{L}\d]{1,6}\b)"
)
_WORD = r"[\p{L}\d][\p{L}\d'\u2019.\-]*"
_CAP_WORD = r"\p{Lu}[\p{L}'\u2019.\-]*"
# A capitalised word, not an initial or an answer letter ("B." in "A. 2018 B. 2019").
_NAME_WORD = r"\p{Lu}[\p{Ll}'\u2019][\p{L}'\u2019.\-]*"
_HOUSE = r"\d{1,6}[A-Za-z]?"
# Trailing unit on the same line or the next one ("12 Main St, Apt. 4" / "...\n Suite 279").
_UNIT_TAIL = rf"(?:[ \t]*,?[ \t]*(?:\n[ \t>?*|\-]*)?{_UNIT})?"


def _street_rules() -> list[Rule]:
    word_end = rf"[\p{{L}}\-]*(?i:{_STREET_WORD_END})(?![\p{{L}}])"
    return [
        # US/UK/Commonwealth style: number, name words, street-type word, optional unit.
        Rule(
            "number name suffix",
            rf"(?<![\w.,\-/])(?P<pii>{_HOUSE}(?:[ \t]+\d{{1,5}})?[ \t]+(?:{_WORD}[ \t]+){{0,4}}?"
            rf"(?:{_STREET_SUFFIX})\.?(?![\p{{L}}])(?:[ \t]+(?:{_STREET_SUFFIX})\.?(?![\p{{L}}]))?"
            rf"{_DIRECTION}{_UNIT_TAIL})",
            0.7,
        ),
        # Continental style with the street type in front ("ul. Słowicza 10", "Via Roma 3").
        Rule(
            "prefix name number",
            # A name stands between the street type and the number: "Place 4-5 noodles" is a
            # quantity after a verb.
            rf"(?<![\p{{L}}])(?P<pii>(?:{_HOUSE}[ \t]+)?{_ENGLISH_PREFIX}(?i:{_STREET_PREFIX})[ \t]+"
            rf"(?:{_WORD}[ \t]+){{1,4}}?{_HOUSE}(?![\w]|[.,]\d){_UNIT_TAIL})",
            0.7,
        ),
        Rule(
            "number prefix name",
            rf"(?<![\w.,\-/])(?P<pii>{_HOUSE}[ \t]+(?i:{_STREET_PREFIX})[ \t]+"
            rf"(?:{_WORD})(?:[ \t]+(?:{_WORD})){{0,3}}?)(?=[ \t]*(?:[,;\n]|$))",
            0.65,
        ),
        # Street type glued to the name ("Hauptstraße 5", "Koskikatu 25", "Nybyvägen 65").
        Rule(
            "name-suffix number",
            rf"(?<![\p{{L}}])(?P<pii>(?:{_HOUSE}[ \t]+)?(?=\p{{Lu}})(?:{_CAP_WORD}[ \t]+){{0,2}}{word_end}"
            rf"(?:[ \t]+{_CAP_WORD}){{0,2}}[ \t]+{_HOUSE}\.?(?![\w]|[.,]\d){_UNIT_TAIL})",
            0.7,
        ),
        # House number, capitalised name, number: common European form written number-first.
        Rule(
            "number name number",
            rf"(?<![\w.,\-/:])(?P<pii>{_HOUSE}[ \t]+(?:{_NAME_WORD}[ \t]+){{1,3}}\d{{1,6}}[a-z]?"
            rf"(?![\w%:/]|[.,]\d){_UNIT_TAIL})",
            0.5,
        ),
        Rule(
            "post office box",
            r"(?P<pii>\b(?i:p\.?[ \t]?o\.?[ \t]*box|post[ \t]office[ \t]box|postfach|apartado|"
            r"casilla|b\.?p\.)[ \t]*\d{1,6})",
            0.7,
        ),
        # US military mail ("PSC 1234, Box 5678", "Unit 1234 Box 5678", "USNS Smith").
        Rule(
            "military",
            r"(?P<pii>\b(?:(?:PSC|Unit|CMR)[ \t]+\d{3,5},?[ \t]+Box[ \t]+\d{3,5}|"
            r"(?:USNS|USS|USNV|USCGC)[ \t]+\p{Lu}\p{Ll}+)"
            r"(?:[ \t]*,?[ \t]*\n?[ \t>?*|\-]*(?:APO|FPO|DPO)[ \t]+A[AEP][ \t]+\d{5})?)",
            0.75,
        ),
        Rule("military city", r"\b(?P<pii>(?:APO|FPO|DPO)[ \t]+A[AEP][ \t]+\d{5})\b", 0.7),
        Rule(
            "corner of",
            r"\b(?i:(?:the[ \t]+)?(?:corner|intersection|junction)[ \t]+of)[ \t]+"
            r"(?P<pii>[^\n.?!]{3,80}?[ \t]+(?i:and|&)[ \t]+[^\n?!]{3,60}?)(?=[ \t]*(?:[?!]|\.(?:\s|$)|\n|$))",
            0.6,
        ),
        Rule(
            "lives at",
            rf"\b(?i:lives?[ \t]+(?:at|on)|living[ \t]+(?:at|on)|address(?:[ \t]is)?[ \t]*:?|"
            rf"located[ \t]+at|stop[ \t]+at|send[ \t]+(?:it|them|this|a[ \t]new[ \t]one)[ \t]+to|"
            rf"ship(?:ped)?[ \t]+(?:it[ \t]+)?to|deliver(?:ed)?[ \t]+(?:it[ \t]+)?to|"
            rf"restaurant[ \t]+is[ \t]+at|off[ \t]+at)[ \t]+"
            rf"(?P<pii>(?:{_HOUSE}[ \t]+)?(?:{_CAP_WORD}[ \t]+){{1,4}}{_HOUSE}(?![\w]|[.,]\d))",
            0.65,
        ),
    ]


_POSTAL_LINE = regex.compile(
    r"(?:\b\d{4,6}\b|\b\d{3}[ \t]\d{2}\b|\b\d{2}-\d{3}\b|\b\d{4}-\d{3}\b|"
    r"\b[A-Z]\d[A-Z][ \t]?\d[A-Z]\d\b|\b[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}\b)",
    FLAGS,
)
_UNIT_LINE = regex.compile(rf"^{_UNIT}", FLAGS)
_POSTAL_ONLY = regex.compile(r"^[A-Z\d]{2,5}(?:[ \t\-][A-Z\d]{2,4})?$")
_BLOCK_LINE_LEAD = regex.compile(r"^[ \t>?*|\-]*")
_MAX_BLOCK_LINES = 5


def extend_address_block(text: str, end: int) -> int:
    """Extend an address ending at ``end`` over the lines that complete it.

    A postal address is often written over several short lines (unit, city, region, country
    and postal code). The block is taken up to the last of the next few lines that carries a
    postal code; without one, only unit lines are taken. It never crosses a line with ':'
    or '@' (a labelled field such as "Phone:") or more than one blank line.
    """
    line_end = text.find("\n", end)
    if line_end == -1 or text[end:line_end].strip(" \t,"):
        return end
    best = end
    units_end = end
    units_only = True
    blank = 0
    pos = line_end + 1
    for _ in range(_MAX_BLOCK_LINES):
        if pos > len(text):
            break
        nxt = text.find("\n", pos)
        nxt = len(text) if nxt == -1 else nxt
        raw = text[pos:nxt]
        lead = _BLOCK_LINE_LEAD.match(raw)
        line = raw[lead.end() if lead else 0 :].strip()
        if not line:
            blank += 1
            if blank > 1:
                break
            pos = nxt + 1
            continue
        if (
            len(line) > 48
            or len(line.split()) > 6
            or ":" in line
            or "@" in line
            or "http" in line
            or line[-1] in "?!"
            or not (any(ch.isalpha() for ch in line) or _POSTAL_ONLY.match(line))
        ):
            break
        line_stop = pos + len(raw.rstrip())
        if units_only and _UNIT_LINE.match(line):
            units_end = line_stop
        else:
            units_only = False
        if _POSTAL_LINE.search(line):
            best = line_stop
            break
        pos = nxt + 1
    return max(best, units_end)


class StreetAddressRecognizer(RegexRecognizer):
    """Street addresses in the common international forms, extended over multi-line blocks."""

    def __init__(self) -> None:
        super().__init__(
            name="CuratorStreetAddressRecognizer",
            entity="STREET_ADDRESS",
            rules=_street_rules(),
            context=["address", "street", "live", "lives", "located", "ship", "deliver"],
            gate=r"\d",
        )

        # The postal code that follows a street address on its line belongs to it.
        self.supported_entities = ["STREET_ADDRESS", "ZIP_CODE"]

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Match the street rules, then take in the rest of each multi-line address block."""
        results = super().analyze(text, ["STREET_ADDRESS"], nlp_artifacts)
        if "ZIP_CODE" in entities:
            results.extend(_trailing_postcodes(text, results))
        if "STREET_ADDRESS" not in entities:
            return [r for r in results if r.entity_type == "ZIP_CODE"]
        if "\n" in text:
            for result in results:
                if result.entity_type == "STREET_ADDRESS":
                    result.end = extend_address_block(text, result.end)
        return results


_TRAILING_POSTCODE = regex.compile(
    r"[ \t]*,?[ \t]*(?:[\p{L}.'\u2019\-]+(?:[ \t]+[\p{L}.'\u2019\-]+){0,3},?[ \t]+)?"
    r"(?:[A-Z]{2}[ \t]+)?"
    r"(?P<pii>\d{5}-\d{4}|\d{4}[ \t]?[A-Z]{2}(?![\p{L}])|\d{2}-\d{3}|\d{3}[ \t]\d{2}(?!\d)|"
    r"\d{4,6}|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})"
    r"(?![\w\-]|[.,]\d)",
    FLAGS,
)


def _trailing_postcodes(text: str, addresses: list[RecognizerResult]) -> list[RecognizerResult]:
    found = []
    for address in addresses:
        line_end = text.find("\n", address.end)
        line_end = len(text) if line_end == -1 else line_end
        match = _TRAILING_POSTCODE.match(text, address.end, min(line_end, address.end + 60))
        if match is not None:
            start, end = match.span("pii")
            found.append(RecognizerResult("ZIP_CODE", start, end, 0.7))
    return found


# ---------------------------------------------------------------------------------------------
# Postal codes

_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|"
    "NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI"
)
_POSTCODE = r"(?:\d{4,6}|\d{3}[ \t]\d{2}|\d{2}-\d{3}|\d{4}-\d{3}|\d{5}-\d{4})"
_PLACE = (
    rf"{_NAME_WORD}(?:[ \t]+(?:(?:de|da|do|di|del|la|le|sur|am|an|upon|on|en|nad|pod)[ \t]+)?"
    rf"(?:{_CAP_WORD}|\p{{Lu}})){{0,3}}"
)


def _zip_rules() -> list[Rule]:
    return [
        Rule(
            "labelled",
            r"\b(?i:zip(?:[ \t]?code)?|postal[ \t]?code|post[ \t]?code|postcode|plz|cep|"
            r"pin[ \t]?code)[ \t]*(?i:is|:|#|no\.?)?[ \t]*"
            r"(?P<pii>[A-Z\d]{2,5}(?:[ \t\-][A-Z\d]{2,4})?)\b",
            0.8,
        ),
        Rule("us state", rf"\b(?:{_US_STATES})[ \t]+(?P<pii>\d{{5}}(?:-\d{{4}})?)\b", 0.7),
        Rule(
            "canada",
            r"\b(?P<pii>[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ \t]?\d[ABCEGHJ-NPRSTV-Z]\d)\b",
            0.65,
        ),
        Rule(
            "uk",
            r"\b(?P<pii>(?:[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?)[ \t]?\d[ABD-HJLNP-UW-Z]{2})\b",
            0.55,
        ),
        # "... in Arendal 4844 ..." / "Mill Village NS B0J 2H0": a place followed by its code.
        Rule(
            "place code",
            rf"\b(?i:in|at|from|near|to)[ \t]+(?P<place>{_PLACE})[ \t]+"
            rf"(?P<pii>{_POSTCODE})(?![\w.,%:/])",
            0.6,
            groups={"place": "LOCATION", "pii": "ZIP_CODE"},
        ),
        # A line holding only a place and a code, as in the last line of a postal address.
        Rule(
            "place code line",
            rf"{LINE_LEAD}(?P<place>{_PLACE})[ \t]+(?P<pii>{_POSTCODE})[ \t]*$",
            0.5,
            groups={"place": "LOCATION", "pii": "ZIP_CODE"},
        ),
    ]


def zip_code_recognizer() -> RegexRecognizer:
    """Postal codes: labelled, after a US state, Canadian/UK formats, or after a place name."""
    return RegexRecognizer(
        name="CuratorZipCodeRecognizer",
        entity="ZIP_CODE",
        rules=_zip_rules(),
        context=["zip", "postal", "postcode", "post code", "address"],
        gate=r"\d",
    )


# ---------------------------------------------------------------------------------------------
# Places introduced by a verb of living or travelling

_NOT_PLACES = (
    "The|A|An|My|Our|Your|His|Her|Their|This|That|These|Those|It|I|We|You|He|She|They|Me|Us|"
    "Them|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|"
    "April|May|June|July|August|September|October|November|December|Work|School|Home|Bed|"
    "Church|College|University|Town|Here|There|Today|Tomorrow|Mr|Mrs|Ms|Dr"
)


def location_recognizer() -> RegexRecognizer:
    """Place names after "live in", "grew up in", "originally from", "flew to" and the like."""
    verbs = (
        r"(?i:live[sd]?|living|grew[ \t]+up|born|raised|based|located|moved(?:[ \t]+here)?|"
        r"relocat\w+|resid\w+|stay\w*|flew|fly(?:ing)?|travel\w*|arrived|visit\w*|trip|"
        r"hometown[ \t]+is|native|originally|come[s]?|came|i'm|i[ \t]+am|we're|we[ \t]+are|"
        r"he's|she's|they're|went|going|headed|heading)"
    )
    return RegexRecognizer(
        name="CuratorLocationRecognizer",
        entity="LOCATION",
        rules=[
            Rule(
                "labelled",
                rf"\b(?i:where|location|city|town|village|country|hometown|birthplace|"
                rf"place[ \t]of[ \t]birth|born[ \t]in)[ \t]*:[ \t]*(?!(?:{_NOT_PLACES})\b)"
                rf"(?P<pii>{_PLACE})",
                0.6,
            ),
            Rule(
                "verb preposition place",
                rf"\b{verbs}[ \t]+(?i:in|to|at|from|of|near|outside|around)[ \t]+"
                rf"(?!(?:{_NOT_PLACES})\b)(?P<pii>{_PLACE})",
                0.6,
            ),
        ],
    )
