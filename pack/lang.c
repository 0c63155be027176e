#include "lang.h"

#include <string.h>
#include <strings.h>

/*
 * ISO 639-2 (T and B codes) to ISO 639-1, sorted by the 3-letter code: each entry is the
 * 3-letter code followed by the 2-letter one. Generated from the iso-codes package's
 * iso_639-2.json.
 */
static const char lang_table[][6] = {
    "aaraa", "abkab", "afraf", "akaak", "albsq", "amham", "araar", "argan", "armhy", "asmas",
    "avaav", "aveae", "aymay", "azeaz", "bakba", "bambm", "baqeu", "belbe", "benbn", "bihbh",
    "bisbi", "bodbo", "bosbs", "brebr", "bulbg", "burmy", "catca", "cescs", "chach", "chece",
    "chizh", "chucu", "chvcv", "corkw", "cosco", "crecr", "cymcy", "czecs", "danda", "deude",
    "divdv", "dutnl", "dzodz", "ellel", "engen", "epoeo", "estet", "euseu", "eweee", "faofo",
    "fasfa", "fijfj", "finfi", "frafr", "frefr", "fryfy", "fulff", "geoka", "gerde", "glagd",
    "glega", "glggl", "glvgv", "greel", "grngn", "gujgu", "hatht", "hauha", "hebhe", "herhz",
    "hinhi", "hmoho", "hrvhr", "hunhu", "hyehy", "iboig", "iceis", "idoio", "iiiii", "ikuiu",
    "ileie", "inaia", "indid", "ipkik", "islis", "itait", "javjv", "jpnja", "kalkl", "kankn",
    "kasks", "katka", "kaukr", "kazkk", "khmkm", "kikki", "kinrw", "kirky", "komkv", "konkg",
    "korko", "kuakj", "kurku", "laolo", "latla", "lavlv", "limli", "linln", "litlt", "ltzlb",
    "lublu", "luglg", "macmk", "mahmh", "malml", "maomi", "marmr", "mayms", "mkdmk", "mlgmg",
    "mltmt", "monmn", "mrimi", "msams", "myamy", "nauna", "navnv", "nblnr", "ndend", "ndong",
    "nepne", "nldnl", "nnonn", "nobnb", "norno", "nyany", "ocioc", "ojioj", "orior", "ormom",
    "ossos", "panpa", "perfa", "plipi", "polpl", "porpt", "pusps", "quequ", "rohrm", "ronro",
    "rumro", "runrn", "rusru", "sagsg", "sansa", "sinsi", "slksk", "slosk", "slvsl", "smese",
    "smosm", "snasn", "sndsd", "somso", "sotst", "spaes", "sqisq", "srdsc", "srpsr", "sswss",
    "sunsu", "swasw", "swesv", "tahty", "tamta", "tattt", "telte", "tgktg", "tgltl", "thath",
    "tibbo", "tirti", "tonto", "tsntn", "tsots", "tuktk", "turtr", "twitw", "uigug", "ukruk",
    "urdur", "uzbuz", "venve", "vievi", "volvo", "welcy", "wlnwa", "wolwo", "xhoxh", "yidyi",
    "yoryo", "zhaza", "zhozh", "zulzu",
};

/* xs:language, the DASH @lang type and an RFC 5646 shape: [a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})* */
static int well_formed(const char *s)
{
    size_t n = 0;
    int first = 1;
    for (const char *p = s;; p++) {
        if (*p == '-' || *p == '\0') {
            if (n == 0 || n > 8)
                return 0;
            if (*p == '\0')
                return 1;
            n = 0;
            first = 0;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (!first && *p >= '0' && *p <= '9')) {
            n++;
        } else {
            return 0;
        }
    }
}

const char *pk_lang_tag(const char *lang)
{
    if (!lang || !*lang || strcasecmp(lang, "und") == 0 || !well_formed(lang))
        return NULL;
    if (strlen(lang) == 3) {
        char key[4] = { (char)(lang[0] | 0x20), (char)(lang[1] | 0x20), (char)(lang[2] | 0x20),
                        '\0' };
        size_t lo = 0, hi = sizeof lang_table / sizeof lang_table[0];
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strncmp(lang_table[mid], key, 3);
            if (c == 0)
                return lang_table[mid] + 3;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    return lang;
}
