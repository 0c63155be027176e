#include "smooth.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"
#include "protect.h"
#include "text.h"

/* The root TimeScale: 100 ns, the MS-SSTR default (2.2.2.1) and what AMS wrote. */
#define HNS 10000000u

/* The FourCC of a track Smooth can describe, else NULL. */
static const char *smooth_fourcc(const pk_track_t *t)
{
    switch (t->fourcc) {
    case FOURCC('a', 'v', 'c', '1'):
    case FOURCC('a', 'v', 'c', '3'):
        return "H264";
    case FOURCC('m', 'p', '4', 'a'):
        if (t->object_type != 0x40)     /* 14496-1 Table 5: MPEG-4 audio */
            return NULL;
        if (t->audio_object_type == 2)
            return "AACL";
        if (t->audio_object_type == 5 || t->audio_object_type == 29)  /* SBR, PS */
            return "AACH";
        return NULL;
    default:
        return NULL;
    }
}

static int has_frags(const pk_view_t *v, const pk_vtrack_t *vt)
{
    for (uint32_t f = v->frag_begin; f < v->frag_end; f++)
        if (vt->frags[f].count)
            return 1;
    return 0;
}

/* Whether a track appears in the manifest at all. */
static int listed(const pk_view_t *v, const pk_vtrack_t *vt)
{
    return smooth_fourcc(vt->t) && has_frags(v, vt);
}

/* Whether two listed tracks share a StreamIndex: one type, one name (the Url
 * template names the track: Fragments(NAME={start time})). */
static int same_stream(const pk_vtrack_t *a, const pk_vtrack_t *b)
{
    return a->t->type == b->t->type && strcmp(a->at->name, b->at->name) == 0;
}

/* Whether b can use a's chunk list: chunk t values are the URL times of every
 * QualityLevel, so times must match exactly (durations come from a). */
static int same_times(const pk_view_t *v, const pk_vtrack_t *a, const pk_vtrack_t *b)
{
    if (a->t->timescale != b->t->timescale)
        return 0;
    for (uint32_t f = v->frag_begin; f < v->frag_end; f++) {
        const pk_frag_t *x = &a->frags[f], *y = &b->frags[f];
        if (!x->count != !y->count || (x->count && x->time != y->time))
            return 0;
    }
    return 1;
}

/* Whether listed track i is the first of its StreamIndex. */
static int leads(const pk_view_t *v, uint32_t i)
{
    for (uint32_t j = 0; j < i; j++)
        if (listed(v, &v->tracks[j]) && same_stream(&v->tracks[j], &v->tracks[i]))
            return 0;
    return 1;
}

/* Checks what the manifest needs before writing a byte: something to list and
 * one timeline per StreamIndex. 0 or -ENOTSUP (logged). */
static int check(const pk_view_t *v)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < v->track_count; i++) {
        const pk_vtrack_t *vt = &v->tracks[i];
        if (!smooth_fourcc(vt->t)) {
            PK_WARN("%s (%u bit/s): codec %s has no Smooth Streaming description; "
                    "left out of the Smooth manifest", vt->at->name, vt->at->bitrate,
                    vt->t->codec);
            continue;
        }
        if (!has_frags(v, vt))
            continue;
        n++;
        for (uint32_t j = 0; j < i; j++) {
            const pk_vtrack_t *lead = &v->tracks[j];
            if (!listed(v, lead) || !same_stream(lead, vt))
                continue;
            if (!same_times(v, lead, vt)) {
                PK_ERROR("%s: %u bit/s (timescale %u) and %u bit/s (timescale %u) differ in "
                         "timescale or fragment times; one Smooth StreamIndex has one "
                         "timeline", vt->at->name, lead->at->bitrate, lead->t->timescale,
                         vt->at->bitrate, vt->t->timescale);
                return -ENOTSUP;
            }
            break;
        }
    }
    if (!n) {
        PK_ERROR("no track Smooth Streaming can describe (H.264 video, AAC audio)");
        return -ENOTSUP;
    }
    return 0;
}


/* CodecPrivateData of H.264: 00000001 SPS 00000001 PPS in upper-case hex
 * (MS-SSTR 2.2.2.5), which pk_codec_param_sets gives as bytes. */
static int write_param_sets(wr_t *w, const pk_track_t *t)
{
    if (!t->entry || !t->dsi_size)
        return 0;
    const uint8_t *dsi = t->entry + t->dsi_off;
    wr_t count = wr_counter();
    int rc = pk_codec_param_sets(t->fourcc, dsi, t->dsi_size, &count);
    if (rc < 0)
        return rc;
    if (!w->buf) {
        wr_reserve(w, 2 * count.pos);
        return 0;
    }
    uint8_t small[512];
    uint8_t *buf = count.pos <= sizeof small ? small : malloc(count.pos);
    if (!buf)
        return -ENOMEM;
    wr_t b = wr_init(buf, count.pos);
    if ((rc = pk_codec_param_sets(t->fourcc, dsi, t->dsi_size, &b)) == 0)
        wr_hex(w, buf, b.pos);
    if (buf != small)
        free(buf);
    return rc;
}

static int write_quality_level(wr_t *w, const pk_vtrack_t *vt, uint32_t index)
{
    const pk_track_t *t = vt->t;
    wr_printf(w, "    <QualityLevel Index=\"%u\" Bitrate=\"%u\" FourCC=\"%s\"", index,
              vt->at->bitrate, smooth_fourcc(t));
    if (t->type == PK_TRACK_VIDEO) {
        wr_printf(w, " MaxWidth=\"%u\" MaxHeight=\"%u\" CodecPrivateData=\"", t->width,
                  t->height);
        int rc = write_param_sets(w, t);
        if (rc < 0) {
            if (rc == -EBADMSG)
                PK_ERROR("%s (%u bit/s): avcC parameter sets do not parse", vt->at->name,
                         vt->at->bitrate);
            return rc;
        }
        wr_printf(w, "\" NALUnitLengthField=\"%u\"/>\n",
                  t->nal_length_size ? t->nal_length_size : 4);
        return 0;
    }
    /* AAC: the AudioSpecificConfig; WAVEFORMATEX fields as AMS wrote them for AAC
     * (AudioTag 255 = WAVE_FORMAT_RAW_AAC1, PacketSize 4, BitsPerSample 16) */
    wr_str(w, " CodecPrivateData=\"");
    if (t->entry && t->dsi_size)
        wr_hex(w, t->entry + t->dsi_off, t->dsi_size);
    wr_printf(w, "\" SamplingRate=\"%u\" Channels=\"%u\" BitsPerSample=\"16\" PacketSize=\"4\" "
                 "AudioTag=\"255\"/>\n", t->sample_rate, t->channels);
    return 0;
}

static void write_c(wr_t *w, int with_t, uint64_t t, uint64_t d, uint32_t n)
{
    wr_str(w, "    <c");
    if (with_t)
        wr_printf(w, " t=\"%llu\"", (unsigned long long)t);
    wr_printf(w, " d=\"%llu\"", (unsigned long long)d);
    /* Smooth r is the TOTAL number of chunks of this duration, not DASH's extra
     * repeats (notes/ams-facts.md §2.1: Chunks="12" with r="11" plus one more) */
    if (n > 1)
        wr_printf(w, " r=\"%u\"", n);
    wr_str(w, "/>\n");
}

/* The chunks of vt: t on the first and after a gap (MS-SSTR 2.2.2.6). */
static void write_chunks(wr_t *w, const pk_view_t *v, const pk_vtrack_t *vt)
{
    uint64_t t = 0, d = 0, end = 0;
    uint32_t n = 0;
    int with_t = 1;

    for (uint32_t f = v->frag_begin; f < v->frag_end; f++) {
        const pk_frag_t *fr = &vt->frags[f];
        if (!fr->count)
            continue;
        if (n && fr->time == end && fr->duration == d) {
            n++;
            end += d;
            continue;
        }
        if (n) {
            write_c(w, with_t, t, d, n);
            with_t = fr->time != end;
        }
        t = fr->time;
        d = fr->duration;
        end = t + d;
        n = 1;
    }
    if (n)
        write_c(w, with_t, t, d, n);
}

static int write_stream(wr_t *w, const pk_view_t *v, uint32_t lead, const char *seg)
{
    const pk_vtrack_t *first = &v->tracks[lead];
    int video = first->t->type == PK_TRACK_VIDEO;
    uint32_t levels = 0, chunks = 0, max_w = 0, max_h = 0;

    for (uint32_t j = lead; j < v->track_count; j++) {
        const pk_vtrack_t *vt = &v->tracks[j];
        if (!listed(v, vt) || !same_stream(first, vt))
            continue;
        levels++;
        max_w = vt->t->width > max_w ? vt->t->width : max_w;
        max_h = vt->t->height > max_h ? vt->t->height : max_h;
    }
    for (uint32_t f = v->frag_begin; f < v->frag_end; f++)
        chunks += first->frags[f].count != 0;

    wr_printf(w, "  <StreamIndex Type=\"%s\" Name=\"", video ? "video" : "audio");
    wr_xml(w, first->at->name);
    wr_str(w, "\"");
    if (!video && first->at->language && *first->at->language) {
        wr_str(w, " Language=\"");
        wr_xml(w, first->at->language);
        wr_str(w, "\"");
    }
    wr_printf(w, " Chunks=\"%u\" QualityLevels=\"%u\"", chunks, levels);
    if (video)
        wr_printf(w, " MaxWidth=\"%u\" MaxHeight=\"%u\" DisplayWidth=\"%u\" DisplayHeight=\"%u\"",
                  max_w, max_h, max_w, max_h);
    /* chunk times and the URL's {start time} are in the tracks' own timescale.
     * The options that change a fragment's bytes (encryption=) follow the time inside
     * the parentheses, as in every other segment name of the grammar: ams-facts §8
     * item 13 leaves AMS's form unknown, so ismfs decides for one grammar, in which
     * the clear and each encrypted fragment are distinct names (a cache in front
     * never mixes them). Clients substitute {bitrate} and {start time} only and keep
     * the rest of the template as it is (MS-SSTR 2.2.2.3; dash.js MssParser). */
    wr_printf(w, " TimeScale=\"%u\" Url=\"QualityLevels({bitrate})/Fragments(",
              first->t->timescale);
    wr_url_name(w, first->at->name);
    wr_str(w, "={start time}");
    wr_xml(w, seg);
    wr_str(w, ")\">\n");

    uint32_t index = 0;
    for (uint32_t j = lead; j < v->track_count; j++) {
        const pk_vtrack_t *vt = &v->tracks[j];
        if (!listed(v, vt) || !same_stream(first, vt))
            continue;
        int rc = write_quality_level(w, vt, index++);
        if (rc < 0)
            return rc;
    }
    write_chunks(w, v, first);
    wr_str(w, "  </StreamIndex>\n");
    return 0;
}

static const pk_track_drm_t *drm_of(const pk_drm_t *drm, uint32_t i)
{
    return drm && i < drm->track_count ? drm->tracks[i] : NULL;
}

/* The drm of the first track the manifest lists (NULL for none) and, in *one,
 * whether every listed track has a drm of that key. */
static const pk_track_drm_t *lead_drm(const pk_view_t *v, const pk_drm_t *drm, int *one)
{
    const pk_track_drm_t *lead = NULL;
    int first = 1;
    *one = 1;
    for (uint32_t i = 0; i < v->track_count; i++) {
        const pk_track_drm_t *d = drm_of(drm, i);
        if (!listed(v, &v->tracks[i]))
            continue;
        if (first)
            lead = d;
        else if (!d || !lead || memcmp(d->kid, lead->kid, 16) != 0)
            *one = 0;
        first = 0;
    }
    return lead;
}

int pk_smooth_one_key(const pk_view_t *v, const pk_drm_t *drm)
{
    int one;
    return lead_drm(v, drm, &one) && one;
}

/* MS-SSTR 2.2.2.2: one ProtectionHeader per system, PlayReady's only (the one DRM of
 * Smooth; dash.js takes the first ProtectionHeader as a PlayReady Object whatever its
 * SystemID). The SystemID is written as nginx-vod-module writes it (lower case, no braces),
 * not in the braces of MS-SSTR's ABNF: ExoPlayer strips braces, dash.js reads no SystemID. */
static int write_protection(wr_t *w, const pk_view_t *v, const pk_drm_t *drm)
{
    int one;
    const pk_track_drm_t *d = lead_drm(v, drm, &one);
    if (!d || !one) {
        PK_ERROR("the Smooth tracks of this view have %s key; Smooth signals one key per "
                 "presentation", d ? "more than one" : "no");
        return -ENOTSUP;
    }
    if (!d->smooth_header && !d->smooth_pro.len) {
        PK_ERROR("no PlayReady header for the Smooth ProtectionHeader");
        return -EINVAL;
    }
    wr_str(w, "  <Protection>\n    <ProtectionHeader "
              "SystemID=\"9a04f079-9840-4286-ab92-e65be0885f95\">");
    if (d->smooth_header)
        wr_xml(w, d->smooth_header);
    else
        wr_base64(w, d->smooth_pro.data, d->smooth_pro.len);
    wr_str(w, "</ProtectionHeader>\n  </Protection>\n");
    return 0;
}

int pk_smooth_manifest(const pk_view_t *v, const pk_urlopts_t *o, wr_t *w)
{
    const char *seg = o && o->segment ? o->segment : "";
    int rc = check(v);
    if (rc < 0)
        return rc;

    uint64_t dur = v->frag_begin < v->frag_end ? pk_view_duration(v, HNS) : 0;
    wr_str(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    wr_printf(w, "<SmoothStreamingMedia MajorVersion=\"2\" MinorVersion=\"2\" "
                 "TimeScale=\"%u\" Duration=\"%llu\">\n", HNS, (unsigned long long)dur);
    /* MS-SSTR 2.2.2.1: Protection before the first StreamIndex */
    if (o && o->drm && (rc = write_protection(w, v, o->drm)) < 0)
        return rc;
    for (int pass = 0; pass < 2; pass++) {      /* video first, then audio */
        pk_track_type_t type = pass ? PK_TRACK_AUDIO : PK_TRACK_VIDEO;
        for (uint32_t i = 0; i < v->track_count; i++) {
            const pk_vtrack_t *vt = &v->tracks[i];
            if (vt->t->type != type || !listed(v, vt) || !leads(v, i))
                continue;
            if ((rc = write_stream(w, v, i, seg)) < 0)
                return rc;
        }
    }
    wr_str(w, "</SmoothStreamingMedia>\n");
    return w->err;
}
