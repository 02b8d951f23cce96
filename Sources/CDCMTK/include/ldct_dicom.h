/*
 * ldct_dicom.h — the plain C face of LowDoseCT's DICOM layer.
 *
 * Every DCMTK and OpenJPEG call of the project sits behind this header. Nothing C++ crosses it:
 * handles are opaque pointers, strings are caller-owned buffers, errors are an int status plus a
 * message written into a caller buffer. Items (`ldct_item`) are borrowed pointers into a file's
 * dataset and stay valid until the file is closed or the element holding them is removed.
 */
#ifndef LDCT_DICOM_H
#define LDCT_DICOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ldct_file ldct_file;
typedef struct ldct_item_opaque *ldct_item;

/* Status codes returned by the functions below. */
enum {
    LDCT_OK = 0,
    LDCT_NOT_FOUND = 1,      /* attribute absent (not an error for optional attributes) */
    LDCT_ERR_OPEN = -1,      /* file missing, unreadable, not DICOM, or truncated */
    LDCT_ERR_VALUE = -2,     /* attribute present but unusable */
    LDCT_ERR_PIXELS = -3,    /* pixel data missing, short, or undecodable */
    LDCT_ERR_WRITE = -4,     /* saving failed */
    LDCT_ERR_ARGUMENT = -5,  /* caller passed something impossible (buffer too small, bad index) */
};

/* Output transfer syntaxes the writer offers. */
typedef enum {
    LDCT_TS_EXPLICIT_LITTLE = 0,
    LDCT_TS_IMPLICIT_LITTLE = 1,
    LDCT_TS_EXPLICIT_BIG = 2,
    LDCT_TS_JPEG_LS_LOSSLESS = 3,
    LDCT_TS_RLE = 4,
    LDCT_TS_JPEG_LOSSLESS_SV1 = 5,
    LDCT_TS_DEFLATED = 6,
} ldct_transfer_syntax;

/* Registers decoders/encoders, checks the data dictionary, quiets DCMTK's logging.
 * Safe to call many times and from many threads; the work happens once. */
int ldct_init(char *err, size_t errlen);

/* Keeps freed buffers of slice size in the heap for reuse (glibc mallopt: mmap threshold 64 MiB,
 * trim threshold 256 MiB) so decoding slice after slice does not pay fresh page faults each time.
 * A process-wide policy: the command line calls it once at start. */
void ldct_tune_allocator(void);

/* Opens a file (with or without the 128-byte preamble). Large values such as pixel data are read
 * lazily, so opening is cheap. Returns NULL and a message when the file is not readable DICOM. */
ldct_file *ldct_open(const char *path, char *err, size_t errlen);
/* A new, empty file (dataset plus meta header) to be filled and saved. */
ldct_file *ldct_new(void);
void ldct_close(ldct_file *file);

ldct_item ldct_dataset(ldct_file *file);
/* The file meta information (group 0002) of an opened file; empty for files without one. */
ldct_item ldct_meta_header(ldct_file *file);
/* Transfer syntax UID the file was read in (empty for a new file). */
int ldct_get_transfer_syntax_uid(ldct_file *file, char *buf, size_t len);

/* Attribute access on an item. Strings come back with multiple values joined by '\'. */
int ldct_get_string(ldct_item item, uint16_t group, uint16_t element, char *buf, size_t len);
/* 1 when the attribute is present (even empty), 0 otherwise. */
int ldct_has(ldct_item item, uint16_t group, uint16_t element);
/* Length in bytes of the attribute's value as stored (0 when absent). Encapsulated: total bytes. */
uint32_t ldct_value_length(ldct_item item, uint16_t group, uint16_t element);
/* Number of items of a sequence attribute (0 when absent or not a sequence). */
int ldct_seq_count(ldct_item item, uint16_t group, uint16_t element);
/* Item `index` of a sequence, or NULL. */
ldct_item ldct_seq_item(ldct_item item, uint16_t group, uint16_t element, int index);

/* Writing: value is the DICOM string form ('\' separates values); the VR comes from the dictionary. */
int ldct_put_string(ldct_item item, uint16_t group, uint16_t element, const char *value,
                    char *err, size_t errlen);
/* Writes a single 16-bit integer with VR SS (is_signed) or US, for the "xs" attributes such as
 * Pixel Padding Value whose VR follows Pixel Representation. */
int ldct_put_xs(ldct_item item, uint16_t group, uint16_t element, int32_t value, int is_signed);
/* Appends a new empty item to a sequence (the sequence is created when absent). */
ldct_item ldct_seq_append(ldct_item item, uint16_t group, uint16_t element);
/* Creates an empty sequence attribute (Type 2 sequences). */
int ldct_put_empty_sequence(ldct_item item, uint16_t group, uint16_t element);
int ldct_remove(ldct_item item, uint16_t group, uint16_t element);
/* Deep copy of one attribute (any VR, sequences included) from src into dst. */
int ldct_copy_element(ldct_item src, ldct_item dst, uint16_t group, uint16_t element);
/* Tags of the top-level attributes of an item, in order: fills up to `cap` (group<<16|element)
 * values and returns how many there are in all. */
int ldct_list_tags(ldct_item item, uint32_t *tags, int cap);

/* Image pixel description read from the dataset's top level. */
typedef struct {
    int rows, columns, frames;
    int samples_per_pixel;
    int bits_allocated, bits_stored, high_bit;
    int pixel_representation;       /* 0 unsigned, 1 two's complement */
    int encapsulated;               /* pixel data is compressed in the file */
    char photometric[32];
} ldct_pixel_info;

int ldct_pixel_info_get(ldct_file *file, ldct_pixel_info *out, char *err, size_t errlen);

/* Decodes every frame to stored values (masked to BitsStored, sign-extended when signed), frame
 * after frame, row-major. `count` must be rows*columns*frames. JPEG 2000 goes through OpenJPEG;
 * every other syntax through DCMTK's codecs. */
int ldct_decode_frames(ldct_file *file, int32_t *out, size_t count, char *err, size_t errlen);

/* Replaces the pixel data with native 16-bit words (frames after each other). */
int ldct_put_pixels_u16(ldct_item item, const uint16_t *data, size_t count, char *err, size_t errlen);

/* Saves with a meta header (SOP class/instance taken from the dataset) in the given syntax.
 * The caller is responsible for atomicity (save to a temporary name, then rename). */
int ldct_save(ldct_file *file, const char *path, ldct_transfer_syntax ts, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
