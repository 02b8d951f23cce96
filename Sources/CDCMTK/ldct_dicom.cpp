// ldct_dicom.cpp — DCMTK and OpenJPEG behind the plain C header ldct_dicom.h.
// Facts this relies on are in docs/architecture.md ("DICOM layer") and FACTS-DICOM.md.

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/dcmdata/dcrlerp.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpeg/djencode.h"
#include "dcmtk/dcmjpeg/djrplol.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/dcmjpls/djencode.h"
#include "dcmtk/dcmjpls/djrparam.h"
#include "dcmtk/oflog/oflog.h"

#include <openjpeg.h>

#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "ldct_dicom.h"

struct ldct_file {
    DcmFileFormat format;
};

namespace {

void set_err(char *err, size_t errlen, const std::string &msg) {
    if (err && errlen > 0) {
        std::snprintf(err, errlen, "%s", msg.c_str());
    }
}

inline DcmItem *as_item(ldct_item item) { return reinterpret_cast<DcmItem *>(item); }
inline ldct_item to_item(DcmItem *item) { return reinterpret_cast<ldct_item>(item); }

std::once_flag init_once;
bool init_ok = false;
std::string init_message;

int copy_out(const OFString &value, char *buf, size_t len) {
    if (!buf || len == 0) return LDCT_ERR_ARGUMENT;
    if (value.length() + 1 > len) {
        std::snprintf(buf, len, "%s", value.c_str());
        return LDCT_ERR_ARGUMENT;
    }
    std::memcpy(buf, value.c_str(), value.length() + 1);
    return LDCT_OK;
}

/// Masks a stored word to BitsStored (after shifting HighBit down) and sign-extends it.
struct StoredValueMapper {
    uint32_t mask;
    uint32_t sign_bit;
    int shift;
    bool is_signed;
    StoredValueMapper(int bits_stored, int high_bit, int pixel_representation) {
        mask = bits_stored >= 32 ? 0xFFFFFFFFu : ((1u << bits_stored) - 1u);
        sign_bit = bits_stored >= 32 ? 0x80000000u : (1u << (bits_stored - 1));
        shift = high_bit + 1 - bits_stored;
        if (shift < 0) shift = 0;
        is_signed = pixel_representation == 1;
    }
    inline int32_t operator()(uint32_t raw) const {
        uint32_t v = (raw >> shift) & mask;
        if (is_signed && (v & sign_bit)) v |= ~mask;
        return static_cast<int32_t>(v);
    }
};

// ---- OpenJPEG from memory -------------------------------------------------------------------

struct MemoryStream {
    const uint8_t *data;
    size_t size;
    size_t pos;
};

OPJ_SIZE_T mem_read(void *buffer, OPJ_SIZE_T n, void *user) {
    auto *s = static_cast<MemoryStream *>(user);
    if (s->pos >= s->size) return static_cast<OPJ_SIZE_T>(-1);
    size_t k = std::min<size_t>(n, s->size - s->pos);
    std::memcpy(buffer, s->data + s->pos, k);
    s->pos += k;
    return k;
}

OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user) {
    auto *s = static_cast<MemoryStream *>(user);
    if (n < 0) {
        size_t back = static_cast<size_t>(-n);
        if (back > s->pos) return -1;
        s->pos -= back;
        return n;
    }
    size_t k = std::min<size_t>(static_cast<size_t>(n), s->size - s->pos);
    s->pos += k;
    return static_cast<OPJ_OFF_T>(k);
}

OPJ_BOOL mem_seek(OPJ_OFF_T n, void *user) {
    auto *s = static_cast<MemoryStream *>(user);
    if (n < 0 || static_cast<size_t>(n) > s->size) return OPJ_FALSE;
    s->pos = static_cast<size_t>(n);
    return OPJ_TRUE;
}

void opj_quiet(const char *, void *) {}
void opj_capture(const char *msg, void *user) {
    auto *out = static_cast<std::string *>(user);
    if (out->empty()) {
        *out = msg;
        while (!out->empty() && (out->back() == '\n' || out->back() == ' ')) out->pop_back();
    }
}

/// Decodes one JPEG 2000 codestream (or JP2 file) into stored values.
bool decode_j2k_frame(const uint8_t *data, size_t size, int rows, int columns,
                      const StoredValueMapper &mapper, int32_t *out, std::string &message) {
    const bool is_jp2 = size >= 12 && data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 0x0C &&
                        data[4] == 0x6A && data[5] == 0x50;
    opj_codec_t *codec = opj_create_decompress(is_jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    if (!codec) { message = "OpenJPEG could not create a decoder"; return false; }
    std::string opj_error;
    opj_set_info_handler(codec, opj_quiet, nullptr);
    opj_set_warning_handler(codec, opj_quiet, nullptr);
    opj_set_error_handler(codec, opj_capture, &opj_error);
    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    bool ok = opj_setup_decoder(codec, &params);

    MemoryStream ms{data, size, 0};
    opj_stream_t *stream = opj_stream_create(1 << 16, OPJ_TRUE);
    opj_stream_set_user_data(stream, &ms, nullptr);
    opj_stream_set_user_data_length(stream, size);
    opj_stream_set_read_function(stream, mem_read);
    opj_stream_set_skip_function(stream, mem_skip);
    opj_stream_set_seek_function(stream, mem_seek);

    opj_image_t *image = nullptr;
    ok = ok && opj_read_header(stream, codec, &image);
    ok = ok && opj_decode(codec, stream, image);
    ok = ok && opj_end_decompress(codec, stream);
    if (!ok) {
        message = "JPEG 2000 decoding failed" + (opj_error.empty() ? std::string() : ": " + opj_error);
    } else if (image->numcomps != 1) {
        message = "JPEG 2000 frame has " + std::to_string(image->numcomps) + " components, expected 1";
        ok = false;
    } else if (static_cast<int>(image->comps[0].w) != columns || static_cast<int>(image->comps[0].h) != rows) {
        message = "JPEG 2000 frame is " + std::to_string(image->comps[0].w) + "x" +
                  std::to_string(image->comps[0].h) + ", header says " + std::to_string(columns) + "x" +
                  std::to_string(rows);
        ok = false;
    } else {
        const OPJ_INT32 *src = image->comps[0].data;
        const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(columns);
        for (size_t i = 0; i < n; ++i) out[i] = mapper(static_cast<uint32_t>(src[i]));
    }
    if (image) opj_image_destroy(image);
    opj_stream_destroy(stream);
    opj_destroy_codec(codec);
    return ok;
}

bool is_j2k_syntax(E_TransferSyntax xfer) {
    return xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000 ||
           xfer == EXS_JPEG2000MulticomponentLosslessOnly || xfer == EXS_JPEG2000Multicomponent;
}

int decode_j2k(DcmDataset *ds, E_TransferSyntax xfer, const ldct_pixel_info &info, const StoredValueMapper &mapper,
               int32_t *out, char *err, size_t errlen) {
    DcmElement *element = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, element).bad() || !element) {
        set_err(err, errlen, "no Pixel Data (7FE0,0010)");
        return LDCT_ERR_PIXELS;
    }
    auto *pixel = dynamic_cast<DcmPixelData *>(element);
    DcmPixelSequence *sequence = nullptr;
    if (!pixel || pixel->getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() || !sequence) {
        set_err(err, errlen, "JPEG 2000 pixel data is not encapsulated as fragments");
        return LDCT_ERR_PIXELS;
    }
    // Item 0 is the Basic Offset Table; frames start at fragments that begin with SOC (FF 4F)
    // or with a JP2 signature box. Fragments in between continue the current frame.
    std::vector<std::vector<uint8_t>> frames;
    const unsigned long count = sequence->card();
    for (unsigned long i = 1; i < count; ++i) {
        DcmPixelItem *item = nullptr;
        if (sequence->getItem(item, i).bad() || !item) continue;
        Uint8 *bytes = nullptr;
        if (item->getUint8Array(bytes).bad() || !bytes) {
            set_err(err, errlen, "JPEG 2000 fragment " + std::to_string(i) + " could not be read (truncated file?)");
            return LDCT_ERR_PIXELS;
        }
        const size_t length = item->getLength();
        const bool starts_frame = (length >= 2 && bytes[0] == 0xFF && bytes[1] == 0x4F) ||
                                  (length >= 8 && bytes[4] == 0x6A && bytes[5] == 0x50 && bytes[6] == 0x20);
        const bool one_per_frame = (count - 1) == static_cast<unsigned long>(info.frames);
        if (frames.empty() || starts_frame || one_per_frame) frames.emplace_back();
        frames.back().insert(frames.back().end(), bytes, bytes + length);
    }
    if (static_cast<int>(frames.size()) < info.frames) {
        set_err(err, errlen, "JPEG 2000 pixel data holds " + std::to_string(frames.size()) + " frame(s), header says " +
                                 std::to_string(info.frames));
        return LDCT_ERR_PIXELS;
    }
    const size_t frame_size = static_cast<size_t>(info.rows) * static_cast<size_t>(info.columns);
    for (int f = 0; f < info.frames; ++f) {
        std::string message;
        if (!decode_j2k_frame(frames[f].data(), frames[f].size(), info.rows, info.columns, mapper,
                              out + frame_size * f, message)) {
            set_err(err, errlen, "frame " + std::to_string(f + 1) + ": " + message);
            return LDCT_ERR_PIXELS;
        }
    }
    return LDCT_OK;
}

}  // namespace

extern "C" {

int ldct_init(char *err, size_t errlen) {
    std::call_once(init_once, [] {
        OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
        // Files that passed through a system which did not know the attributes carry them as UN in
        // an explicit-VR syntax (Modality "43\\54" instead of "CT"); read them as their dictionary VR.
        dcmEnableUnknownVRConversion.set(OFTrue);
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
        DJEncoderRegistration::registerCodecs();
        DJLSEncoderRegistration::registerCodecs();
        DcmRLEEncoderRegistration::registerCodecs();
        if (!dcmDataDict.isDictionaryLoaded()) {
            init_message = "DCMTK's data dictionary is not loaded (install libdcmtk17 or set DCMDICTPATH)";
            init_ok = false;
        } else {
            init_ok = true;
        }
    });
    if (!init_ok) {
        set_err(err, errlen, init_message);
        return LDCT_ERR_OPEN;
    }
    return LDCT_OK;
}

void ldct_tune_allocator(void) {
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

ldct_file *ldct_open(const char *path, char *err, size_t errlen) {
    auto *file = new ldct_file();
    OFCondition cond = file->format.loadFile(OFFilename(path), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                             ERM_autoDetect);
    if (cond.bad()) {
        set_err(err, errlen, cond.text());
        delete file;
        return nullptr;
    }
    return file;
}

ldct_file *ldct_new(void) { return new ldct_file(); }

void ldct_close(ldct_file *file) { delete file; }

ldct_item ldct_dataset(ldct_file *file) { return to_item(file->format.getDataset()); }

ldct_item ldct_meta_header(ldct_file *file) { return to_item(file->format.getMetaInfo()); }

int ldct_get_transfer_syntax_uid(ldct_file *file, char *buf, size_t len) {
    E_TransferSyntax xfer = file->format.getDataset()->getOriginalXfer();
    if (xfer == EXS_Unknown) return copy_out("", buf, len);
    return copy_out(DcmXfer(xfer).getXferID(), buf, len);
}

int ldct_get_string(ldct_item item, uint16_t group, uint16_t element, char *buf, size_t len) {
    OFString value;
    DcmElement *e = nullptr;
    if (as_item(item)->findAndGetElement(DcmTagKey(group, element), e).bad() || !e) return LDCT_NOT_FOUND;
    if (e->getLength() == 0) return copy_out("", buf, len);
    if (e->getOFStringArray(value).bad()) return LDCT_ERR_VALUE;
    return copy_out(value, buf, len);
}

int ldct_has(ldct_item item, uint16_t group, uint16_t element) {
    return as_item(item)->tagExists(DcmTagKey(group, element)) ? 1 : 0;
}

uint32_t ldct_value_length(ldct_item item, uint16_t group, uint16_t element) {
    DcmElement *e = nullptr;
    if (as_item(item)->findAndGetElement(DcmTagKey(group, element), e).bad() || !e) return 0;
    return e->getLength();
}

int ldct_seq_count(ldct_item item, uint16_t group, uint16_t element) {
    DcmSequenceOfItems *seq = nullptr;
    if (as_item(item)->findAndGetSequence(DcmTagKey(group, element), seq).bad() || !seq) return 0;
    return static_cast<int>(seq->card());
}

ldct_item ldct_seq_item(ldct_item item, uint16_t group, uint16_t element, int index) {
    if (index < 0) return nullptr;
    DcmSequenceOfItems *seq = nullptr;
    if (as_item(item)->findAndGetSequence(DcmTagKey(group, element), seq).bad() || !seq) return nullptr;
    if (static_cast<unsigned long>(index) >= seq->card()) return nullptr;
    return to_item(seq->getItem(static_cast<unsigned long>(index)));
}

int ldct_put_string(ldct_item item, uint16_t group, uint16_t element, const char *value, char *err, size_t errlen) {
    DcmTag tag(group, element);
    if (tag.getEVR() == EVR_UNKNOWN || tag.getEVR() == EVR_UN) {
        set_err(err, errlen, std::string("tag not in the data dictionary: ") + tag.toString().c_str());
        return LDCT_ERR_ARGUMENT;
    }
    OFCondition cond = as_item(item)->putAndInsertString(tag, value, OFTrue);
    if (cond.bad()) {
        set_err(err, errlen, std::string(tag.toString().c_str()) + ": " + cond.text());
        return LDCT_ERR_VALUE;
    }
    return LDCT_OK;
}

int ldct_put_xs(ldct_item item, uint16_t group, uint16_t element, int32_t value, int is_signed) {
    DcmElement *e = nullptr;
    if (is_signed) {
        if (value < -32768 || value > 32767) return LDCT_ERR_VALUE;
        e = new DcmSignedShort(DcmTag(group, element, EVR_SS));
        e->putSint16(static_cast<Sint16>(value));
    } else {
        if (value < 0 || value > 65535) return LDCT_ERR_VALUE;
        e = new DcmUnsignedShort(DcmTag(group, element, EVR_US));
        e->putUint16(static_cast<Uint16>(value));
    }
    if (as_item(item)->insert(e, OFTrue).bad()) {
        delete e;
        return LDCT_ERR_VALUE;
    }
    return LDCT_OK;
}

ldct_item ldct_seq_append(ldct_item item, uint16_t group, uint16_t element) {
    DcmItem *created = nullptr;
    if (as_item(item)->findOrCreateSequenceItem(DcmTag(group, element), created, -2).bad()) return nullptr;
    return to_item(created);
}

int ldct_put_empty_sequence(ldct_item item, uint16_t group, uint16_t element) {
    auto *seq = new DcmSequenceOfItems(DcmTag(group, element));
    if (as_item(item)->insert(seq, OFTrue).bad()) {
        delete seq;
        return LDCT_ERR_VALUE;
    }
    return LDCT_OK;
}

int ldct_remove(ldct_item item, uint16_t group, uint16_t element) {
    return as_item(item)->findAndDeleteElement(DcmTagKey(group, element)).good() ? LDCT_OK : LDCT_NOT_FOUND;
}

int ldct_copy_element(ldct_item src, ldct_item dst, uint16_t group, uint16_t element) {
    DcmElement *copy = nullptr;
    if (as_item(src)->findAndGetElement(DcmTagKey(group, element), copy, OFFalse, OFTrue).bad() || !copy)
        return LDCT_NOT_FOUND;
    if (as_item(dst)->insert(copy, OFTrue).bad()) {
        delete copy;
        return LDCT_ERR_VALUE;
    }
    return LDCT_OK;
}

int ldct_list_tags(ldct_item item, uint32_t *tags, int cap) {
    DcmItem *it = as_item(item);
    const unsigned long n = it->card();
    for (unsigned long i = 0; i < n && static_cast<int>(i) < cap; ++i) {
        DcmElement *e = it->getElement(i);
        tags[i] = (static_cast<uint32_t>(e->getGTag()) << 16) | e->getETag();
    }
    return static_cast<int>(n);
}

int ldct_pixel_info_get(ldct_file *file, ldct_pixel_info *out, char *err, size_t errlen) {
    DcmDataset *ds = file->format.getDataset();
    std::memset(out, 0, sizeof(*out));
    Uint16 rows = 0, columns = 0, samples = 1, allocated = 0, stored = 0, high = 0, representation = 0;
    if (ds->findAndGetUint16(DCM_Rows, rows).bad() || ds->findAndGetUint16(DCM_Columns, columns).bad()) {
        set_err(err, errlen, "Rows (0028,0010) or Columns (0028,0011) missing");
        return LDCT_ERR_VALUE;
    }
    if (ds->findAndGetUint16(DCM_BitsAllocated, allocated).bad()) {
        set_err(err, errlen, "Bits Allocated (0028,0100) missing");
        return LDCT_ERR_VALUE;
    }
    if (ds->findAndGetUint16(DCM_BitsStored, stored).bad()) stored = allocated;
    if (ds->findAndGetUint16(DCM_HighBit, high).bad()) high = stored > 0 ? stored - 1 : 0;
    ds->findAndGetUint16(DCM_SamplesPerPixel, samples);
    ds->findAndGetUint16(DCM_PixelRepresentation, representation);
    Sint32 frames = 1;
    OFString frame_string;
    if (ds->findAndGetOFString(DCM_NumberOfFrames, frame_string).good() && !frame_string.empty()) {
        frames = std::atoi(frame_string.c_str());
    }
    OFString photometric;
    ds->findAndGetOFString(DCM_PhotometricInterpretation, photometric);
    out->rows = rows;
    out->columns = columns;
    out->frames = frames;
    out->samples_per_pixel = samples;
    out->bits_allocated = allocated;
    out->bits_stored = stored;
    out->high_bit = high;
    out->pixel_representation = representation;
    out->encapsulated = DcmXfer(ds->getOriginalXfer()).isEncapsulated() ? 1 : 0;
    std::snprintf(out->photometric, sizeof(out->photometric), "%s", photometric.c_str());
    return LDCT_OK;
}

int ldct_decode_frames(ldct_file *file, int32_t *out, size_t count, char *err, size_t errlen) {
    ldct_pixel_info info;
    int status = ldct_pixel_info_get(file, &info, err, errlen);
    if (status != LDCT_OK) return status;
    if (info.rows <= 0 || info.columns <= 0 || info.frames <= 0) {
        set_err(err, errlen, "image size " + std::to_string(info.columns) + "x" + std::to_string(info.rows) + "x" +
                                 std::to_string(info.frames) + " frames is empty");
        return LDCT_ERR_VALUE;
    }
    const size_t expected = static_cast<size_t>(info.rows) * info.columns * info.frames;
    if (count != expected) {
        set_err(err, errlen, "output buffer holds " + std::to_string(count) + " values, image needs " +
                                 std::to_string(expected));
        return LDCT_ERR_ARGUMENT;
    }
    if (info.bits_stored < 1 || info.bits_stored > info.bits_allocated || info.high_bit >= info.bits_allocated) {
        set_err(err, errlen, "inconsistent bit depth: BitsAllocated " + std::to_string(info.bits_allocated) +
                                 ", BitsStored " + std::to_string(info.bits_stored) + ", HighBit " +
                                 std::to_string(info.high_bit));
        return LDCT_ERR_VALUE;
    }
    StoredValueMapper mapper(info.bits_stored, info.high_bit, info.pixel_representation);
    DcmDataset *ds = file->format.getDataset();
    if (!ds->tagExists(DCM_PixelData)) {
        set_err(err, errlen, "no Pixel Data (7FE0,0010)");
        return LDCT_ERR_PIXELS;
    }
    const E_TransferSyntax xfer = ds->getOriginalXfer();
    if (is_j2k_syntax(xfer)) return decode_j2k(ds, xfer, info, mapper, out, err, errlen);

    if (DcmXfer(xfer).isEncapsulated()) {
        OFCondition cond = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
        if (cond.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit)) {
            set_err(err, errlen, std::string("cannot decode transfer syntax ") + DcmXfer(xfer).getXferName() + ": " +
                                     (cond.bad() ? cond.text() : "no codec"));
            return LDCT_ERR_PIXELS;
        }
    }
    DcmElement *element = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, element).bad() || !element) {
        set_err(err, errlen, "no Pixel Data (7FE0,0010)");
        return LDCT_ERR_PIXELS;
    }
    if (info.bits_allocated == 16) {
        Uint16 *words = nullptr;
        OFCondition cond = element->getUint16Array(words);
        if (cond.bad() || !words) {
            set_err(err, errlen, std::string("pixel data could not be read: ") + cond.text());
            return LDCT_ERR_PIXELS;
        }
        const size_t available = element->getLength() / 2;
        if (available < expected) {
            set_err(err, errlen, "pixel data holds " + std::to_string(available) + " values, Rows x Columns x frames is " +
                                     std::to_string(expected));
            return LDCT_ERR_PIXELS;
        }
        for (size_t i = 0; i < expected; ++i) out[i] = mapper(words[i]);
    } else if (info.bits_allocated == 8) {
        Uint8 *bytes = nullptr;
        OFCondition cond = element->getUint8Array(bytes);
        if (cond.bad() || !bytes) {
            set_err(err, errlen, std::string("pixel data could not be read: ") + cond.text());
            return LDCT_ERR_PIXELS;
        }
        const size_t available = element->getLength();
        if (available < expected) {
            set_err(err, errlen, "pixel data holds " + std::to_string(available) + " values, Rows x Columns x frames is " +
                                     std::to_string(expected));
            return LDCT_ERR_PIXELS;
        }
        for (size_t i = 0; i < expected; ++i) out[i] = mapper(bytes[i]);
    } else if (info.bits_allocated == 32) {
        Uint32 *words = nullptr;
        OFCondition cond = element->getUint32Array(words);
        if (cond.bad() || !words) {
            // Pixel data of VR OW holds 32-bit samples as pairs of 16-bit words.
            Uint16 *halves = nullptr;
            cond = element->getUint16Array(halves);
            if (cond.bad() || !halves) {
                set_err(err, errlen, std::string("pixel data could not be read: ") + cond.text());
                return LDCT_ERR_PIXELS;
            }
            words = reinterpret_cast<Uint32 *>(halves);
        }
        const size_t available = element->getLength() / 4;
        if (available < expected) {
            set_err(err, errlen, "pixel data holds " + std::to_string(available) + " values, Rows x Columns x frames is " +
                                     std::to_string(expected));
            return LDCT_ERR_PIXELS;
        }
        for (size_t i = 0; i < expected; ++i) out[i] = mapper(words[i]);
    } else {
        set_err(err, errlen, "Bits Allocated " + std::to_string(info.bits_allocated) + " is not supported (8, 16 or 32)");
        return LDCT_ERR_PIXELS;
    }
    return LDCT_OK;
}

int ldct_put_pixels_u16(ldct_item item, const uint16_t *data, size_t count, char *err, size_t errlen) {
    OFCondition cond = as_item(item)->putAndInsertUint16Array(DCM_PixelData, data, static_cast<unsigned long>(count));
    if (cond.bad()) {
        set_err(err, errlen, std::string("could not store pixel data: ") + cond.text());
        return LDCT_ERR_VALUE;
    }
    return LDCT_OK;
}

int ldct_save(ldct_file *file, const char *path, ldct_transfer_syntax ts, char *err, size_t errlen) {
    DcmDataset *ds = file->format.getDataset();
    E_TransferSyntax xfer = EXS_LittleEndianExplicit;
    OFCondition cond = EC_Normal;
    switch (ts) {
    case LDCT_TS_EXPLICIT_LITTLE: xfer = EXS_LittleEndianExplicit; break;
    case LDCT_TS_IMPLICIT_LITTLE: xfer = EXS_LittleEndianImplicit; break;
    case LDCT_TS_EXPLICIT_BIG: xfer = EXS_BigEndianExplicit; break;
    case LDCT_TS_DEFLATED: xfer = EXS_DeflatedLittleEndianExplicit; break;
    case LDCT_TS_JPEG_LS_LOSSLESS: {
        xfer = EXS_JPEGLSLossless;
        DJLSRepresentationParameter params(0, OFTrue);
        cond = ds->chooseRepresentation(xfer, &params);
        break;
    }
    case LDCT_TS_RLE: {
        xfer = EXS_RLELossless;
        DcmRLERepresentationParameter params;
        cond = ds->chooseRepresentation(xfer, &params);
        break;
    }
    case LDCT_TS_JPEG_LOSSLESS_SV1: {
        xfer = EXS_JPEGProcess14SV1;
        DJ_RPLossless params(1, 0);
        cond = ds->chooseRepresentation(xfer, &params);
        break;
    }
    }
    if (cond.bad() || !ds->canWriteXfer(xfer)) {
        set_err(err, errlen, std::string("cannot encode as ") + DcmXfer(xfer).getXferName() +
                                 (cond.bad() ? std::string(": ") + cond.text() : std::string()));
        return LDCT_ERR_WRITE;
    }
    cond = file->format.saveFile(OFFilename(path), xfer, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0,
                                 EWM_createNewMeta);
    if (cond.bad()) {
        set_err(err, errlen, std::string("could not write ") + path + ": " + cond.text());
        return LDCT_ERR_WRITE;
    }
    return LDCT_OK;
}

}  // extern "C"
