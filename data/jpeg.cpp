#include "data/jpeg.h"

#include <cstdio>
#include <memory>

#include "core/error.h"

#ifdef SLAB_WITH_JPEG
#include <csetjmp>
// jpeglib.h needs size_t and FILE declared first (<cstdio> above).
#include <jpeglib.h>
#include <jerror.h>
#endif

namespace slab::data {

bool has_jpeg_signature(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!file) return false;
  unsigned char bytes[3] = {};
  return std::fread(bytes, 1, 3, file.get()) == 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

#ifndef SLAB_WITH_JPEG

bool jpeg_decoder_built() { return false; }

namespace {
[[noreturn]] void no_decoder(const std::string& path) {
  SLAB_FAIL("image folder: cannot decode '", path,
            "': it is a JPEG file and this build of slab has no JPEG decoder (libjpeg was not found at configure "
            "time: install libjpeg62-turbo-dev, e.g. with tools/setup.sh, and configure again)");
}
}  // namespace

JpegHeader read_jpeg_header(const std::string& path) { no_decoder(path); }

void decode_jpeg(const std::string& path, const std::function<void(const JpegHeader&)>&, ImageU8&) {
  no_decoder(path);
}

#else

bool jpeg_decoder_built() { return true; }

namespace {

constexpr int kMaxProgressiveScans = 500;
constexpr long kMaxDecoderMemory = 1L << 30;  // libjpeg's whole-image buffers (progressive files)

// libjpeg reports a fatal error through error_exit, which must not return: it jumps back to
// the setjmp of the JpegReader method that called into libjpeg, which then throws. Between
// the setjmp and the jump only libjpeg's own (C) frames and trivially destructible locals
// live, so nothing is skipped that would need destroying.
struct ErrorManager {
  jpeg_error_mgr base;  // first: libjpeg hands back &base as cinfo->err
  std::jmp_buf escape;
  char message[JMSG_LENGTH_MAX] = {};
};

[[noreturn]] void jump_out(j_common_ptr cinfo) {
  auto* manager = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, manager->message);
  std::longjmp(manager->escape, 1);
}

// Level -1 is a warning about corrupt data; levels >= 0 are trace messages. Nothing is printed.
void on_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jump_out(cinfo);
}

void on_progress(j_common_ptr cinfo) {
  auto* decompress = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (!cinfo->is_decompressor || !decompress->progressive_mode ||
      decompress->input_scan_number <= kMaxProgressiveScans)
    return;
  auto* manager = reinterpret_cast<ErrorManager*>(cinfo->err);
  std::snprintf(manager->message, sizeof manager->message, "a progressive JPEG with more than %d scans",
                kMaxProgressiveScans);
  std::longjmp(manager->escape, 1);
}

class JpegReader {
 public:
  explicit JpegReader(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "rb"), std::fclose) {
    SLAB_CHECK(file_ != nullptr, "image folder: cannot open '", path, "'");
    info_.err = jpeg_std_error(&errors_.base);
    errors_.base.error_exit = jump_out;
    errors_.base.emit_message = on_message;
    if (setjmp(errors_.escape)) fail();
    jpeg_create_decompress(&info_);
    created_ = true;
    info_.mem->max_memory_to_use = kMaxDecoderMemory;
    progress_.progress_monitor = on_progress;
    info_.progress = &progress_;
    jpeg_stdio_src(&info_, file_.get());
  }
  ~JpegReader() {
    if (created_) jpeg_destroy_decompress(&info_);
  }
  JpegReader(const JpegReader&) = delete;
  JpegReader& operator=(const JpegReader&) = delete;

  JpegHeader read_header() {
    if (setjmp(errors_.escape)) fail();
    jpeg_read_header(&info_, TRUE);
    const J_COLOR_SPACE space = info_.jpeg_color_space;
    const bool rgb_like = space == JCS_GRAYSCALE || space == JCS_YCbCr || space == JCS_RGB;
    SLAB_CHECK(rgb_like || space == JCS_CMYK || space == JCS_YCCK, "image folder: cannot decode '", path_,
               "': a JPEG of ", info_.num_components, " components in colour space ", static_cast<int>(space),
               "; expected grey, YCbCr, RGB, CMYK or YCCK");
    info_.out_color_space = rgb_like ? JCS_RGB : JCS_CMYK;
    return {static_cast<int>(info_.image_width), static_cast<int>(info_.image_height), info_.num_components};
  }

  void decode(ImageU8& out) {
    if (setjmp(errors_.escape)) fail();
    jpeg_start_decompress(&info_);
    const size_t width = info_.output_width, height = info_.output_height;
    const int components = info_.output_components;  // 3 (RGB) or 4 (CMYK)
    out.reshape(3, static_cast<int64_t>(height), static_cast<int64_t>(width));
    JSAMPARRAY row = (*info_.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&info_), JPOOL_IMAGE,
                                                static_cast<JDIMENSION>(width * components), 1);
    const size_t plane = height * width;
    uint8_t* pixels = out.pixels.data();
    while (info_.output_scanline < info_.output_height) {
      const size_t y = info_.output_scanline;
      jpeg_read_scanlines(&info_, row, 1);
      const JSAMPLE* in = row[0];
      uint8_t* red = pixels + y * width;
      for (size_t x = 0; x < width; ++x, in += components)
        for (size_t c = 0; c < 3; ++c)
          red[c * plane + x] = components == 3 ? in[c] : static_cast<uint8_t>((in[c] * in[3] + 127) / 255);
    }
    jpeg_finish_decompress(&info_);
  }

 private:
  [[noreturn]] void fail() const {
    SLAB_FAIL("image folder: cannot decode '", path_, "': ", errors_.message);
  }

  std::string path_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
  bool created_ = false;
  ErrorManager errors_;
  jpeg_progress_mgr progress_ = {};
  jpeg_decompress_struct info_ = {};
};

}  // namespace

JpegHeader read_jpeg_header(const std::string& path) { return JpegReader(path).read_header(); }

void decode_jpeg(const std::string& path, const std::function<void(const JpegHeader&)>& check, ImageU8& out) {
  JpegReader reader(path);
  check(reader.read_header());
  reader.decode(out);
}

#endif

}  // namespace slab::data
