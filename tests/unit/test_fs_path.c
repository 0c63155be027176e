/* The URL grammar inside NAME.ism/ (fs/path.c; DESIGN §1, ams-facts §1.8). */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../fs/path.c"

#define QL "QualityLevels(381048)/"

typedef struct {
    const char *in;
    const char *canon;          /* what fs_path_format() must write */
    fs_path_t want;
} good_t;

#define MAN(...) { .kind = FS_REQ_MANIFEST, __VA_ARGS__ }
#define PL(...) { .kind = FS_REQ_PLAYLIST, __VA_ARGS__ }
#define FR(...) { .kind = FS_REQ_FRAGMENT, __VA_ARGS__ }

static const good_t goods[] = {
    /* top-level manifests (ams-facts §1.2, §1.7) */
    { "manifest", "manifest", MAN(.format = FS_FMT_SMOOTH) },
    { "Manifest", "manifest", MAN(.format = FS_FMT_SMOOTH) },
    { "MANIFEST", "manifest", MAN(.format = FS_FMT_SMOOTH) },
    { "manifest(format=mpd-time-csf)", "manifest(format=mpd-time-csf)",
      MAN(.format = FS_FMT_MPD_CSF) },
    { "manifest(format=mpd-time-cmaf)", "manifest(format=mpd-time-cmaf)",
      MAN(.format = FS_FMT_MPD_CMAF) },
    { "manifest(format=m3u8-aapl)", "manifest(format=m3u8-aapl)", MAN(.format = FS_FMT_HLS_V4) },
    { "manifest(format=m3u8-aapl-v3)", "manifest(format=m3u8-aapl-v3)",
      MAN(.format = FS_FMT_HLS_V3) },
    { "manifest(format=m3u8-cmaf)", "manifest(format=m3u8-cmaf)",
      MAN(.format = FS_FMT_HLS_CMAF) },
    /* suffixes (ams-facts §1.4), matching the format, any case */
    { "manifest(format=m3u8-aapl).m3u8", "manifest(format=m3u8-aapl)",
      MAN(.format = FS_FMT_HLS_V4) },
    { "manifest(format=m3u8-aapl-v3).m3u8", "manifest(format=m3u8-aapl-v3)",
      MAN(.format = FS_FMT_HLS_V3) },
    { "manifest(format=m3u8-cmaf).M3U8", "manifest(format=m3u8-cmaf)",
      MAN(.format = FS_FMT_HLS_CMAF) },
    { "manifest(format=mpd-time-csf).mpd", "manifest(format=mpd-time-csf)",
      MAN(.format = FS_FMT_MPD_CSF) },
    { "manifest(format=mpd-time-cmaf).Mpd", "manifest(format=mpd-time-cmaf)",
      MAN(.format = FS_FMT_MPD_CMAF) },
    /* keywords, keys and values case-insensitive */
    { "Manifest(Format=M3U8-AAPL)", "manifest(format=m3u8-aapl)", MAN(.format = FS_FMT_HLS_V4) },
    { "MANIFEST(FORMAT=MPD-TIME-CSF,FILTER=Mobile)", "manifest(format=mpd-time-csf,filter=Mobile)",
      MAN(.format = FS_FMT_MPD_CSF, .filter_count = 1, .filters = { "Mobile" }) },
    /* v2 docs' blank after the comma (ams-facts §1.3), and the tolerated padding */
    { "manifest(format=mpd-time-csf, filter=MyFilter)",
      "manifest(format=mpd-time-csf,filter=MyFilter)",
      MAN(.format = FS_FMT_MPD_CSF, .filter_count = 1, .filters = { "MyFilter" }) },
    { "manifest(format=m3u8-aapl ,\t filter=a)", "manifest(format=m3u8-aapl,filter=a)",
      MAN(.format = FS_FMT_HLS_V4, .filter_count = 1, .filters = { "a" }) },
    { "manifest(format = m3u8-aapl,filter\t=\ta)", "manifest(format=m3u8-aapl,filter=a)",
      MAN(.format = FS_FMT_HLS_V4, .filter_count = 1, .filters = { "a" }) },
    /* filters: 1 to 3, order kept, names exact */
    { "manifest(filter=a)", "manifest(filter=a)", MAN(.filter_count = 1, .filters = { "a" }) },
    { "manifest(filter=b;a)", "manifest(filter=b;a)",
      MAN(.filter_count = 2, .filters = { "b", "a" }) },
    { "manifest(filter=a;b;c)", "manifest(filter=a;b;c)",
      MAN(.filter_count = 3, .filters = { "a", "b", "c" }) },
    { "manifest(filter=Trim.30-\xc3\xa4_x)", "manifest(filter=Trim.30-\xc3\xa4_x)",
      MAN(.filter_count = 1, .filters = { "Trim.30-\xc3\xa4_x" }) },
    /* the "everything" example of ams-facts §1.3, reordered canonically */
    { "manifest(format=m3u8-cmaf,encryption=cbcs-aapl,filter=mobile;trim30)",
      "manifest(format=m3u8-cmaf,filter=mobile;trim30,encryption=cbcs-aapl)",
      MAN(.format = FS_FMT_HLS_CMAF, .encryption = FS_ENC_CBCS, .filter_count = 2,
          .filters = { "mobile", "trim30" }) },
    /* encryption */
    { "manifest(encryption=cbc)", "manifest(encryption=cbc)", MAN(.encryption = FS_ENC_CBC) },
    { "manifest(encryption=cenc)", "manifest(encryption=cenc)", MAN(.encryption = FS_ENC_CENC) },
    { "manifest(encryption=piff)", "manifest(encryption=piff)", MAN(.encryption = FS_ENC_PIFF) },
    { "manifest(encryption=cbcs-aapl)", "manifest(encryption=cbcs)",
      MAN(.encryption = FS_ENC_CBCS) },
    { "manifest(Encryption=CBCS)", "manifest(encryption=cbcs)",
      MAN(.encryption = FS_ENC_CBCS) },
    { "manifest(format=m3u8-aapl,encryption=cbc)", "manifest(format=m3u8-aapl,encryption=cbc)",
      MAN(.format = FS_FMT_HLS_V4, .encryption = FS_ENC_CBC) },
    /* audio-only: false sets the flag, true is the default and leaves no trace */
    { "manifest(format=m3u8-aapl,audio-only=false)", "manifest(format=m3u8-aapl,audio-only=false)",
      MAN(.format = FS_FMT_HLS_V4, .audio_only_false = 1) },
    { "manifest(Audio-Only=FALSE,encryption=cenc,format=m3u8-aapl,filter=f)",
      "manifest(format=m3u8-aapl,filter=f,audio-only=false,encryption=cenc)",
      MAN(.format = FS_FMT_HLS_V4, .encryption = FS_ENC_CENC, .audio_only_false = 1,
          .filter_count = 1, .filters = { "f" }) },
    { "manifest(format=m3u8-aapl,audio-only=true)", "manifest(format=m3u8-aapl)",
      MAN(.format = FS_FMT_HLS_V4) },
    { "manifest(audio-only=True)", "manifest", MAN(.format = FS_FMT_SMOOTH) },

    /* QualityLevels(N) */
    { "QualityLevels(381048)", "QualityLevels(381048)",
      { .kind = FS_REQ_QUALITY_DIR, .bitrate = 381048 } },
    { "QualityLevels(128041)", "QualityLevels(128041)",
      { .kind = FS_REQ_QUALITY_DIR, .bitrate = 128041 } },
    { "QualityLevels(3579827)", "QualityLevels(3579827)",
      { .kind = FS_REQ_QUALITY_DIR, .bitrate = 3579827 } },
    { "QualityLevels(3450000)", "QualityLevels(3450000)",
      { .kind = FS_REQ_QUALITY_DIR, .bitrate = 3450000 } },
    { "QualityLevels(306428)", "QualityLevels(306428)",
      { .kind = FS_REQ_QUALITY_DIR, .bitrate = 306428 } },
    { "QualityLevels(2210000)", "QualityLevels(2210000)",
      { .kind = FS_REQ_QUALITY_DIR, .bitrate = 2210000 } },
    { "QualityLevels(1)", "QualityLevels(1)", { .kind = FS_REQ_QUALITY_DIR, .bitrate = 1 } },
    { "qualitylevels(1)", "QualityLevels(1)", { .kind = FS_REQ_QUALITY_DIR, .bitrate = 1 } },
    { "QUALITYLEVELS(4294967295)", "QualityLevels(4294967295)",
      { .kind = FS_REQ_QUALITY_DIR, .bitrate = 4294967295u } },
    { "QualityLevels(0128000)", "QualityLevels(128000)",
      { .kind = FS_REQ_QUALITY_DIR, .bitrate = 128000 } },

    /* media playlists (ams-facts §1.4) */
    { QL "Manifest(video,format=m3u8-aapl)", "Manifest(video,format=m3u8-aapl)",
      PL(.bitrate = 381048, .track = "video", .format = FS_FMT_HLS_V4) },
    { QL "Manifest(video,format=m3u8-aapl).m3u8", "Manifest(video,format=m3u8-aapl)",
      PL(.bitrate = 381048, .track = "video", .format = FS_FMT_HLS_V4) },
    { QL "manifest(video,format=m3u8-aapl)", "Manifest(video,format=m3u8-aapl)",
      PL(.bitrate = 381048, .track = "video", .format = FS_FMT_HLS_V4) },
    { QL "Manifest(video,format=m3u8-aapl,type=keyframes)",
      "Manifest(video,format=m3u8-aapl,type=keyframes)",
      PL(.bitrate = 381048, .track = "video", .format = FS_FMT_HLS_V4, .keyframes = 1) },
    { QL "manifest(video,format=m3u8-aapl).M3U8", "Manifest(video,format=m3u8-aapl)",
      PL(.bitrate = 381048, .track = "video", .format = FS_FMT_HLS_V4) },
    { QL "MANIFEST(Video , TYPE=KeyFrames,  format=M3U8-aapl)",
      "Manifest(Video,format=m3u8-aapl,type=keyframes)",
      PL(.bitrate = 381048, .track = "Video", .format = FS_FMT_HLS_V4, .keyframes = 1) },
    { "QualityLevels(3450000)/Manifest(video,format=m3u8-aapl-v3,audiotrack=audio_en_0)",
      "Manifest(video,format=m3u8-aapl-v3,audiotrack=audio_en_0)",
      PL(.bitrate = 3450000, .track = "video", .format = FS_FMT_HLS_V3,
         .audiotrack = "audio_en_0") },
    { "QualityLevels(3450000)/Manifest(video,format=m3u8-aapl-v3)",
      "Manifest(video,format=m3u8-aapl-v3)",
      PL(.bitrate = 3450000, .track = "video", .format = FS_FMT_HLS_V3) },
    { "QualityLevels(306428)/Manifest(video,format=m3u8-cmaf,type=keyframes,encryption=cbcs-aapl)",
      "Manifest(video,format=m3u8-cmaf,type=keyframes,encryption=cbcs-aapl)",
      PL(.bitrate = 306428, .track = "video", .format = FS_FMT_HLS_CMAF, .keyframes = 1,
         .encryption = FS_ENC_CBCS) },
    { "QualityLevels(128041)/Manifest(aac_eng_2_128041_2_1,encryption=cbcs,filter=a;b,"
      "format=m3u8-cmaf)",
      "Manifest(aac_eng_2_128041_2_1,format=m3u8-cmaf,filter=a;b,encryption=cbcs-aapl)",
      PL(.bitrate = 128041, .track = "aac_eng_2_128041_2_1", .format = FS_FMT_HLS_CMAF,
         .encryption = FS_ENC_CBCS, .filter_count = 2, .filters = { "a", "b" }) },
    { QL "Manifest(video,audiotrack=aac,type=keyframes,filter=x,format=m3u8-aapl-v3,"
      "encryption=cbc)",
      "Manifest(video,format=m3u8-aapl-v3,audiotrack=aac,type=keyframes,filter=x,"
      "encryption=cbc)",
      PL(.bitrate = 381048, .track = "video", .format = FS_FMT_HLS_V3, .audiotrack = "aac",
         .keyframes = 1, .filter_count = 1, .filters = { "x" }, .encryption = FS_ENC_CBC) },

    /* fragments: Smooth (no format), CMAF under four spellings, TS v4 and v3 */
    { "QualityLevels(3579827)/Fragments(video=60060000)", "Fragments(video=60060000)",
      FR(.bitrate = 3579827, .track = "video", .time = 60060000) },
    { "QualityLevels(128041)/Fragments(aac_eng_2_128041_2_1=0)",
      "Fragments(aac_eng_2_128041_2_1=0)",
      FR(.bitrate = 128041, .track = "aac_eng_2_128041_2_1") },
    { QL "Fragments(video=0,encryption=piff)", "Fragments(video=0,encryption=piff)",
      FR(.bitrate = 381048, .track = "video", .encryption = FS_ENC_PIFF) },
    { QL "Fragments(video=i,format=mpd-time-csf)", "Fragments(video=i,format=cmaf)",
      FR(.bitrate = 381048, .track = "video", .init = 1, .format = FS_FMT_CMAF) },
    { QL "Fragments(video=I,format=CMAF)", "Fragments(video=i,format=cmaf)",
      FR(.bitrate = 381048, .track = "video", .init = 1, .format = FS_FMT_CMAF) },
    { QL "Fragments(video=i,format=m3u8-cmaf,encryption=cbcs-aapl)",
      "Fragments(video=i,format=cmaf,encryption=cbcs)",
      FR(.bitrate = 381048, .track = "video", .init = 1, .format = FS_FMT_CMAF,
         .encryption = FS_ENC_CBCS) },
    { QL "Fragments(video=20000000,format=mpd-time-csf,encryption=cenc)",
      "Fragments(video=20000000,format=cmaf,encryption=cenc)",
      FR(.bitrate = 381048, .track = "video", .time = 20000000, .format = FS_FMT_CMAF,
         .encryption = FS_ENC_CENC) },
    { QL "Fragments(video=1,format=mpd-time-cmaf)", "Fragments(video=1,format=cmaf)",
      FR(.bitrate = 381048, .track = "video", .time = 1, .format = FS_FMT_CMAF) },
    { QL "Fragments(video=2,format=m3u8-cmaf)", "Fragments(video=2,format=cmaf)",
      FR(.bitrate = 381048, .track = "video", .time = 2, .format = FS_FMT_CMAF) },
    { QL "Fragments(video=3,format=cmaf)", "Fragments(video=3,format=cmaf)",
      FR(.bitrate = 381048, .track = "video", .time = 3, .format = FS_FMT_CMAF) },
    { QL "Fragments(video=0,format=m3u8-aapl)", "Fragments(video=0,format=m3u8-aapl)",
      FR(.bitrate = 381048, .track = "video", .format = FS_FMT_HLS_V4) },
    { "QualityLevels(2210000)/Fragments(video=10000000,format=m3u8-aapl-v3,"
      "audiotrack=aac_und_2_127_2_1)",
      "Fragments(video=10000000,format=m3u8-aapl-v3,audiotrack=aac_und_2_127_2_1)",
      FR(.bitrate = 2210000, .track = "video", .time = 10000000, .format = FS_FMT_HLS_V3,
         .audiotrack = "aac_und_2_127_2_1") },
    /* SAMPLE-AES TS is HLS: the AMS spelling; CMAF segments shared with DASH say cbcs */
    { QL "Fragments(video=0,format=m3u8-aapl,encryption=cbcs)",
      "Fragments(video=0,format=m3u8-aapl,encryption=cbcs-aapl)",
      FR(.bitrate = 381048, .track = "video", .time = 0, .format = FS_FMT_HLS_V4,
         .encryption = FS_ENC_CBCS) },
    { QL "FRAGMENTS(Video=5 ,  ENCRYPTION=CBCS,\tFORMAT=M3U8-CMAF)",
      "Fragments(Video=5,format=cmaf,encryption=cbcs)",
      FR(.bitrate = 381048, .track = "Video", .time = 5, .format = FS_FMT_CMAF,
         .encryption = FS_ENC_CBCS) },
    { QL "Fragments(video=18446744073709551615,format=cmaf)",
      "Fragments(video=18446744073709551615,format=cmaf)",
      FR(.bitrate = 381048, .track = "video", .time = UINT64_MAX, .format = FS_FMT_CMAF) },
    { QL "Fragments(video=00000000000000000042)", "Fragments(video=42)",
      FR(.bitrate = 381048, .track = "video", .time = 42) },
};

static const char *const bads[] = {
    /* not a component of the grammar */
    "", "/", ".", "..", "./manifest", "../manifest", "manifest/..", "manifest/", "/manifest",
    "manifes", "manifestx", "manifest x", " manifest", "Manifests", "QualityLevels",
    "Fragments(video=0)", "Manifest(video,format=m3u8-aapl)",
    /* parentheses */
    "manifest(", "manifest)", "manifest(format=m3u8-aapl", "manifest)format=m3u8-aapl(",
    "manifest((format=m3u8-aapl))", "manifest(format=m3u8-aapl))", "manifest(format=(m3u8-aapl)",
    "manifest(format=m3u8-aapl)(filter=a)",
    /* trailing garbage, suffixes */
    "manifest(format=m3u8-aapl)x", "manifest(format=m3u8-aapl) ", "manifest(format=m3u8-aapl).m3u",
    "manifest(format=m3u8-aapl).m3u8.m3u8", "manifest(format=m3u8-aapl).mpd",
    "manifest(format=mpd-time-csf).m3u8", "manifest.m3u8", "manifest.mpd", "manifest(filter=a).mpd",
    "manifest(format=m3u8-aapl)/", "manifest(format=m3u8-aapl).ism",
    /* empty or odd option lists */
    "manifest()", "manifest( )", "manifest(,)", "manifest(format=m3u8-aapl,)",
    "manifest(,format=m3u8-aapl)", "manifest( format=m3u8-aapl)", "manifest(format=m3u8-aapl )",
    "manifest(format)", "manifest(=m3u8-aapl)", "manifest(format=m3u8-aapl;filter=a)",
    /* formats */
    "manifest(format=)", "manifest(format=hls)", "manifest(format=cmaf)",
    "manifest(format=fmp4-v20)", "manifest(format=f4m-f4f)", "manifest(format=m3u8-aapl-v8)",
    "manifest(format=m3u8-aapl-v3x)", "manifest(format=m3u8 -aapl)", "manifest(format==m3u8-aapl)",
    /* filters */
    "manifest(filter=)", "manifest(filter=a;b;c;d)", "manifest(filter=a;;b)", "manifest(filter=a;)",
    "manifest(filter=;a)", "manifest(filter=a; b)", "manifest(filter=a b)",
    "manifest(filter=a\x01)",
    "manifest(filter=a\x7f)", "manifest(filter=a=b)", "manifest(filter=a\tb)",
    /* duplicated options, even if they agree or differ only in case */
    "manifest(format=m3u8-aapl,format=m3u8-aapl)", "manifest(format=m3u8-aapl,FORMAT=mpd-time-csf)",
    "manifest(filter=a,filter=b)", "manifest(audio-only=false,audio-only=true)",
    "manifest(audio-only=true,audio-only=true)", "manifest(encryption=cbc,encryption=cenc)",
    /* values and keys */
    "manifest(audio-only=maybe)", "manifest(audio-only=)", "manifest(encryption=aes)",
    "manifest(encryption=)", "manifest(encryption=cbcs-aapl-x)", "manifest(bogus=1)",
    "manifest(startTime=PT0S)", "manifest(filtername=vodcut)",
    /* options that are not the manifest's */
    "manifest(type=keyframes)", "manifest(audiotrack=aac)",
    "manifest(format=m3u8-aapl-v3,audiotrack=aac)",
    /* QualityLevels(N) */
    "QualityLevels()", "QualityLevels(0)", "QualityLevels(00)", "QualityLevels(-1)",
    "QualityLevels(+1)", "QualityLevels(4294967296)", "QualityLevels(99999999999)",
    "QualityLevels(00000000001)", "QualityLevels( 1)", "QualityLevels(1 )", "QualityLevels(1a)",
    "QualityLevels(0x10)", "QualityLevels(1,Key=Value)", "QualityLevels(1)/", "QualityLevels(1)x",
    "QualityLevels(1).m3u8", "QualityLevels(1)(2)", "QualityLevels 1", "QualityLevels(1",
    "QualityLevels1)", "QualityLevel(1)", "manifest/Fragments(video=0)",
    /* levels */
    "QualityLevels(1)/Fragments(video=0)/x", "QualityLevels(1)/Fragments(video=0)/",
    "QualityLevels(1)//Fragments(video=0)", "QualityLevels(1)/./Fragments(video=0)",
    "QualityLevels(1)/../Fragments(video=0)", "QualityLevels(1)/..", "QualityLevels(1)/.",
    "QualityLevels(1)/QualityLevels(1)", "QualityLevels(1)/manifest",
    "QualityLevels(1)/manifest(format=m3u8-aapl)", "QualityLevels(1)/Fragment(video=0)",
    "QualityLevels(1)/Fragments", "QualityLevels(1)/Fragments()", "QualityLevels(1)/x",
    /* playlists */
    QL "Manifest(video)", QL "Manifest(video,)", QL "Manifest(,format=m3u8-aapl)",
    QL "Manifest( video,format=m3u8-aapl)", QL "Manifest(vid eo,format=m3u8-aapl)",
    QL "Manifest(video,format=mpd-time-csf)", QL "Manifest(video,format=mpd-time-cmaf)",
    QL "Manifest(video,format=cmaf)", QL "Manifest(video,filter=a)",
    QL "Manifest(video,format=m3u8-aapl,audiotrack=aac)",
    QL "Manifest(video,format=m3u8-cmaf,audiotrack=aac)",
    QL "Manifest(video,format=m3u8-aapl,audio-only=false)",
    QL "Manifest(video,format=m3u8-aapl,type=iframes)", QL "Manifest(video,format=m3u8-aapl,type=)",
    QL "Manifest(video,format=m3u8-aapl,type=keyframes,type=keyframes)",
    QL "Manifest(video,format=m3u8-aapl).mpd", QL "Manifest(video,format=m3u8-aapl).m3u8x",
    QL "Manifest(video,format=m3u8-aapl)x", QL "Manifest(video,format=m3u8-aapl",
    QL "Manifest(video=0,format=m3u8-aapl)", QL "Manifest(video,format=m3u8-aapl-v3,audiotrack=)",
    QL "Manifest(video,format=m3u8-aapl-v3,audiotrack=a;b)",
    QL "Manifest(video,format=m3u8-aapl,filter=a;b;c;d)",
    /* fragments: track and time */
    QL "Fragments(video)", QL "Fragments(=0)", QL "Fragments(video=)", QL "Fragments(video=-1)",
    QL "Fragments(video=+1)", QL "Fragments(video=18446744073709551616)",
    QL "Fragments(video=99999999999999999999)", QL "Fragments(video=000000000000000000001)",
    QL "Fragments(video=1 )", QL "Fragments(video= 1)", QL "Fragments(video =1)",
    QL "Fragments( video=1)", QL "Fragments(video=1x)", QL "Fragments(video=0x10)",
    QL "Fragments(video=1.5)", QL "Fragments(video=1e3)", QL "Fragments(a=b=0)",
    QL "Fragments(vi(deo=0)", QL "Fragments(vid\x7f=0)", QL "Fragments(vi\tdeo=0)",
    QL "Fragments(vi\x1b" "deo=0)", QL "Fragments(vi;deo=0)", QL "Fragments(video=ii,format=cmaf)",
    QL "Fragments(video=i0,format=cmaf)",
    /* fragments: init only where there is one */
    QL "Fragments(video=i)", QL "Fragments(video=i,encryption=piff)",
    QL "Fragments(video=i,format=m3u8-aapl)", QL "Fragments(video=i,format=m3u8-aapl-v3)",
    /* fragments: options */
    QL "Fragments(video=0,filter=a)", QL "Fragments(video=0,format=cmaf,filter=a)",
    QL "Fragments(video=0,format=cmaf,type=keyframes)", QL "Fragments(video=0,audio-only=false)",
    QL "Fragments(video=0,format=m3u8-aapl,audiotrack=aac)", QL "Fragments(video=0,audiotrack=aac)",
    QL "Fragments(video=0,format=cmaf,audiotrack=aac)",
    QL "Fragments(video=0,format=cmaf,format=cmaf)",
    QL "Fragments(video=0,format=cmaf,encryption=cbcs,encryption=cenc)",
    QL "Fragments(video=0,format=fmp4-v20)", QL "Fragments(video=0,format=m3u8-aapl-v8)",
    QL "Fragments(video=0,format=)", QL "Fragments(video=0,)", QL "Fragments(video=0,format=cmaf )",
    /* fragments: no suffix, nothing after ')' */
    QL "Fragments(video=0,format=cmaf).m4s", QL "Fragments(video=0,format=m3u8-aapl).m3u8",
    QL "Fragments(video=0,format=cmaf))", QL "Fragments(video=0)x",
};

/* Field by field, so padding and the bytes after each name's NUL do not matter. */
static int same(const fs_path_t *a, const fs_path_t *b)
{
    if (a->kind != b->kind || a->format != b->format || a->encryption != b->encryption
        || a->bitrate != b->bitrate || strcmp(a->track, b->track) || a->init != b->init
        || a->time != b->time || a->keyframes != b->keyframes
        || strcmp(a->audiotrack, b->audiotrack) || a->filter_count != b->filter_count
        || a->audio_only_false != b->audio_only_false)
        return 0;
    for (uint32_t i = 0; i < a->filter_count && i < FS_FILTERS_MAX; i++)
        if (strcmp(a->filters[i], b->filters[i]))
            return 0;
    return 1;
}

static int parse_fresh(const char *s, fs_path_t *p)
{
    memset(p, 0, sizeof *p);
    return fs_path_parse(s, p);
}

/* The string in a heap block of exactly its size, so ASan sees any read past its NUL. */
static char *exact(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    assert_non_null(c);
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

/*
 * parse(format(p)): the name written inside its QualityLevels directory for the kinds whose
 * canonical spelling is the last component only.
 */
static int reparse(const fs_path_t *p, fs_path_t *q)
{
    char name[2048], full[2100];
    size_t n = fs_path_format(p, name, sizeof name);
    assert_true(n < sizeof name);
    if (p->kind == FS_REQ_PLAYLIST || p->kind == FS_REQ_FRAGMENT)
        snprintf(full, sizeof full, "QualityLevels(%u)/%s", (unsigned)p->bitrate, name);
    else
        snprintf(full, sizeof full, "%s", name);
    return parse_fresh(full, q);
}

static void check_bad(const char *s)
{
    fs_path_t p;
    memset(&p, 0x5a, sizeof p);
    int rc = fs_path_parse(s, &p);
    if (rc != -ENOENT)
        print_message("accepted: \"%s\"\n", s);
    assert_int_equal(rc, -ENOENT);
    for (size_t i = 0; i < sizeof p; i++)          /* out is untouched on failure */
        assert_int_equal(((unsigned char *)&p)[i], 0x5a);
}

static void test_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
        const good_t *g = &goods[i];
        fs_path_t p, q, r;
        char buf[2048];
        char *in = exact(g->in, strlen(g->in));
        if (parse_fresh(in, &p) != 0 || !same(&p, &g->want))
            print_message("bad parse: \"%s\"\n", g->in);
        assert_int_equal(parse_fresh(in, &p), 0);
        CHECK(same(&p, &g->want));

        size_t n = fs_path_format(&p, buf, sizeof buf);
        assert_int_equal(n, strlen(buf));
        assert_string_equal(buf, g->canon);

        /* parse(format(parse(x))) == parse(x) */
        assert_int_equal(reparse(&p, &q), 0);
        CHECK(same(&p, &q));

        /* format(parse(canonical)) == canonical, the canonical name inside its directory */
        char full[2100];
        snprintf(full, sizeof full, "%s%s",
                 p.kind == FS_REQ_PLAYLIST || p.kind == FS_REQ_FRAGMENT ? QL : "", g->canon);
        assert_int_equal(parse_fresh(full, &r), 0);
        assert_int_equal(fs_path_format(&r, buf, sizeof buf), strlen(g->canon));
        assert_string_equal(buf, g->canon);
        free(in);
    }
}

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        char *s = exact(bads[i], strlen(bads[i]));
        check_bad(s);
        free(s);
    }
    check_bad(NULL);
}

/* Name lengths: 255 bytes is a name, 256 and 300 are not; 4096 bytes is not a path. */
static void test_lengths(void **state)
{
    (void)state;
    char name[301], s[8192];
    fs_path_t p;
    memset(name, 'n', sizeof name - 1);

    name[255] = '\0';
    snprintf(s, sizeof s, QL "Fragments(%s=0,format=cmaf)", name);
    assert_int_equal(parse_fresh(s, &p), 0);
    assert_string_equal(p.track, name);
    snprintf(s, sizeof s, QL "Manifest(%s,format=m3u8-aapl-v3,audiotrack=%s)", name, name);
    assert_int_equal(parse_fresh(s, &p), 0);
    assert_string_equal(p.audiotrack, name);
    snprintf(s, sizeof s, "manifest(filter=%s;%s;%s)", name, name, name);
    assert_int_equal(parse_fresh(s, &p), 0);
    assert_int_equal(p.filter_count, 3);
    assert_string_equal(p.filters[2], name);
    char out[1024];
    assert_int_equal(fs_path_format(&p, out, sizeof out), strlen(s));
    assert_string_equal(out, s);

    name[255] = 'n';
    name[256] = '\0';
    snprintf(s, sizeof s, QL "Fragments(%s=0,format=cmaf)", name);
    check_bad(s);
    snprintf(s, sizeof s, "manifest(filter=a;%s)", name);
    check_bad(s);
    snprintf(s, sizeof s, QL "Manifest(video,format=m3u8-aapl-v3,audiotrack=%s)", name);
    check_bad(s);
    name[300] = '\0';
    snprintf(s, sizeof s, QL "Fragments(%s=0,format=cmaf)", name);
    check_bad(s);

    memset(s, 'a', 4096);                           /* a 4096-byte name */
    s[4096] = '\0';
    check_bad(s);
    memcpy(s, "manifest", 8);
    check_bad(s);
    memset(s, 'a', sizeof s - 1);                   /* longer than PATH_MAX */
    s[sizeof s - 1] = '\0';
    memcpy(s, "manifest(filter=", 16);
    check_bad(s);
    char *huge = malloc(1 << 20);                   /* the scan stops at 4096 */
    assert_non_null(huge);
    memset(huge, 'a', 1 << 20);
    check_bad(huge);                                /* not even NUL-terminated */
    free(huge);
}

static int in_goods(const char *s)
{
    for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++)
        if (!strcmp(goods[i].in, s))
            return 1;
    return 0;
}

/* Every prefix of every good name: no crash, and ENOENT unless the prefix is itself good. */
static void test_prefixes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
        size_t len = strlen(goods[i].in);
        for (size_t n = 0; n <= len; n++) {
            char *s = exact(goods[i].in, n);
            fs_path_t p;
            int rc = parse_fresh(s, &p);
            if (rc == 0 && !in_goods(s))
                print_message("prefix accepted: \"%s\"\n", s);
            CHECK(rc == -ENOENT || (rc == 0 && in_goods(s)));
            free(s);
        }
    }
}

/*
 * Every good name with one byte replaced by a separator, blank, digit, control or high byte,
 * or deleted: no crash, ENOENT or success, and whatever is accepted formats to a name that
 * parses back to the same request.
 */
static void test_mutations(void **state)
{
    (void)state;
    static const char subst[] = "(),=;/ \t.iI0 9aA-\x01\x1f\x7f\x80\xff";
    for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
        const char *in = goods[i].in;
        size_t len = strlen(in);
        for (size_t pos = 0; pos < len; pos++) {
            for (size_t k = 0; k <= sizeof subst - 1; k++) {
                char *s = exact(in, len);
                if (k < sizeof subst - 1)
                    s[pos] = subst[k];
                else
                    memmove(s + pos, s + pos + 1, len - pos);   /* deletion */
                fs_path_t p, q;
                int rc = parse_fresh(s, &p);
                CHECK(rc == 0 || rc == -ENOENT);
                if (rc == 0) {
                    if (reparse(&p, &q) != 0 || !same(&p, &q))
                        print_message("no round trip: \"%s\"\n", s);
                    assert_int_equal(reparse(&p, &q), 0);
                    CHECK(same(&p, &q));
                }
                free(s);
            }
        }
    }
}

/* fs_path_format() into short buffers: snprintf's contract, never a byte past cap. */
static void test_format_truncation(void **state)
{
    (void)state;
    fs_path_t p;
    const char *canon = "Manifest(video,format=m3u8-cmaf,type=keyframes,encryption=cbcs-aapl)";
    assert_int_equal(parse_fresh(QL "Manifest(video,type=keyframes,encryption=cbcs,"
                                 "format=m3u8-cmaf)", &p), 0);
    size_t len = strlen(canon);
    assert_int_equal(fs_path_format(&p, NULL, 0), len);
    for (size_t cap = 1; cap <= len + 1; cap++) {
        char *b = malloc(cap);
        assert_non_null(b);
        assert_int_equal(fs_path_format(&p, b, cap), len);
        assert_int_equal(strlen(b), cap - 1);
        CHECK(!strncmp(b, canon, cap - 1));
        free(b);
    }
}

/*
 * Each kind writes only its own options: a view can turn its playlist's request into the
 * canonical segment name by changing the kind (filters and type dropped, m3u8-cmaf → cmaf).
 */
static void test_format_per_kind(void **state)
{
    (void)state;
    fs_path_t p;
    char buf[512];
    assert_int_equal(parse_fresh(QL "Manifest(video,format=m3u8-cmaf,type=keyframes,"
                                 "filter=a;b,encryption=cenc)", &p), 0);
    p.kind = FS_REQ_FRAGMENT;
    p.time = 180000;
    fs_path_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "Fragments(video=180000,format=cmaf,encryption=cenc)");
    p.init = 1;
    fs_path_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "Fragments(video=i,format=cmaf,encryption=cenc)");

    assert_int_equal(parse_fresh(QL "Manifest(video,format=m3u8-aapl-v3,audiotrack=aac,"
                                 "filter=a)", &p), 0);
    p.kind = FS_REQ_FRAGMENT;
    fs_path_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "Fragments(video=0,format=m3u8-aapl-v3,audiotrack=aac)");

    /* audiotrack belongs to v3 only; audio-only and type to their own kinds */
    memset(&p, 0, sizeof p);
    p.kind = FS_REQ_MANIFEST;
    p.format = FS_FMT_MPD_CSF;
    strcpy(p.track, "v");
    strcpy(p.audiotrack, "aac");
    p.keyframes = 1;
    fs_path_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "manifest(format=mpd-time-csf)");
    p.kind = FS_REQ_FRAGMENT;
    p.audio_only_false = 1;
    p.format = FS_FMT_MPD_CMAF;
    fs_path_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "Fragments(v=0,format=cmaf)");

    memset(&p, 0, sizeof p);                        /* not a request: an empty name */
    buf[0] = 'x';
    assert_int_equal(fs_path_format(&p, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_format_truncation),
        cmocka_unit_test(test_format_per_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
