// A RocksDB file system that fails writes on demand, as a full disk does: while armed, creating a
// file, appending, flushing and syncing return IOStatus::NoSpace; reads and everything else pass
// through to the default file system. Tests hand it to RocksDbStore::Open. Thread-safe.
#pragma once

#include <rocksdb/file_system.h>

#include <atomic>
#include <memory>
#include <string>

namespace lf::store::testing {

class FaultFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  FaultFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "lorafleet.FaultFileSystem"; }

  // Every write from now on fails with NoSpace (only syncs when `syncs_only`: a disk that took
  // the bytes into its cache but cannot make them durable).
  void Arm(bool syncs_only = false) {
    syncs_only_ = syncs_only;
    armed_ = true;
  }
  void Disarm() { armed_ = false; }
  bool armed() const { return armed_; }
  // Writes refused so far.
  uint64_t refused() const { return refused_; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    if (Fails(/*sync=*/false)) return rocksdb::IOStatus::NoSpace("creating " + name);
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, &file, dbg);
    if (s.ok()) *result = std::make_unique<File>(std::move(file), this);
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override {
    if (Fails(/*sync=*/false)) return rocksdb::IOStatus::NoSpace("reopening " + name);
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->ReopenWritableFile(name, options, &file, dbg);
    if (s.ok()) *result = std::make_unique<File>(std::move(file), this);
    return s;
  }

 private:
  class File final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> file, FaultFileSystem* fs)
        : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      if (fs_->Fails(false)) return rocksdb::IOStatus::NoSpace("append");
      return FSWritableFileOwnerWrapper::Append(data, options, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      if (fs_->Fails(false)) return rocksdb::IOStatus::NoSpace("append");
      return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override {
      if (fs_->Fails(false)) return rocksdb::IOStatus::NoSpace("append");
      return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, dbg);
    }
    rocksdb::IOStatus Flush(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      if (fs_->Fails(false)) return rocksdb::IOStatus::NoSpace("flush");
      return FSWritableFileOwnerWrapper::Flush(options, dbg);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
      if (fs_->Fails(true)) return rocksdb::IOStatus::NoSpace("sync");
      return FSWritableFileOwnerWrapper::Sync(options, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      if (fs_->Fails(true)) return rocksdb::IOStatus::NoSpace("fsync");
      return FSWritableFileOwnerWrapper::Fsync(options, dbg);
    }
    rocksdb::IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const rocksdb::IOOptions& options,
                                rocksdb::IODebugContext* dbg) override {
      if (fs_->Fails(true)) return rocksdb::IOStatus::NoSpace("range sync");
      return FSWritableFileOwnerWrapper::RangeSync(offset, nbytes, options, dbg);
    }

   private:
    FaultFileSystem* fs_;
  };

  bool Fails(bool sync) {
    if (!armed_ || (syncs_only_ && !sync)) return false;
    ++refused_;
    return true;
  }

  std::atomic<bool> armed_{false};
  std::atomic<bool> syncs_only_{false};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace lf::store::testing
