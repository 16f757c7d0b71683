#pragma once
// Window-state checkpoints: what the engine hands to the output that stores them (the outbox)
// and what it gets back at start. The output writes a checkpoint in the same transaction as
// every summary emitted before it, so state and rows never disagree after a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vigil/runtime/time.hpp"

namespace vigil::runtime {

/// Why a checkpoint was taken. A restart from a `periodic` one means the run before ended
/// without saving (crash, kill -9, power loss): records processed after it were lost.
enum class CheckpointKind : std::uint8_t {
  periodic,  ///< every checkpoint_interval while running (and once right after start)
  shutdown,  ///< SIGTERM/SIGINT or --for: the state of the last record processed
};

/// One pipeline's saved state: window operator, then forward policy, as written by the engine.
struct PipelineState {
  std::string pipeline;     ///< the pipeline's name
  std::string config_hash;  ///< of the config parts that give the state its meaning
  std::vector<std::byte> state;
};

struct Checkpoint {
  CheckpointKind kind = CheckpointKind::periodic;
  Nanos saved_ns = 0;  ///< wall clock when it was taken (for logs and `vigil outbox stats`)
  std::vector<PipelineState> pipelines;
};

/// The last window end stored for one (pipeline, key): summaries up to it were already
/// emitted (stored in the same transaction as their rows).
struct WindowMark {
  std::string pipeline;
  std::string key;
  std::int64_t last_end_ms = 0;
};

/// What an output saved in the previous run, read back at start.
struct SavedState {
  bool has_checkpoint = false;
  Checkpoint checkpoint;
  std::vector<WindowMark> marks;
};

/// "periodic" or "shutdown".
const char* to_string(CheckpointKind kind) noexcept;

}  // namespace vigil::runtime
