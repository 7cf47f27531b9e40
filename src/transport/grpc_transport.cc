#include "transport/grpc_transport.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <thread>

#include "raft.pb.h"
#include "raft/codec.h"
#include "storage/crc32c.h"
#include "storage/file_util.h"
#include "storage/snapshot_ref.h"
#include "transport.grpc.pb.h"

namespace sundial::transport {
namespace {

using clock = std::chrono::steady_clock;

// The core's message <-> its protobuf form, without a byte round trip.
bool to_pb(const raft::message& m, raft::pb::Message* out) {
  return out->ParseFromString(raft::codec::encode(m));
}

// A peer: one sender thread for the message stream, one for snapshots.
class peer {
 public:
  peer(node_id self, node_id id, std::string address, const transport_options& opt, receiver* r)
      : self_(self), id_(id), address_(std::move(address)), opt_(opt), receiver_(r) {
    status_.id = id_;
    status_.address = address_;
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(64 << 20);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(opt_.backoff_min.count()));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(opt_.backoff_max.count()));
    channel_ = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
    stub_ = pb::Raft::NewStub(channel_);
    sender_ = std::thread([this] { send_loop(); });
    snapshotter_ = std::thread([this] { snapshot_loop(); });
  }

  ~peer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      if (stream_ctx_) stream_ctx_->TryCancel();
      if (snap_ctx_) snap_ctx_->TryCancel();
    }
    cv_.notify_all();
    sender_.join();
    snapshotter_.join();
  }

  void enqueue(raft::message m) {
    std::unique_lock lock(mu_);
    if (m.type == raft::message_type::snap) {
      if (pending_snap_) {
        lock.unlock();
        receiver_->report_snapshot(id_, false);  // one snapshot at a time
        return;
      }
      pending_snap_ = std::move(m);
      lock.unlock();
      cv_.notify_all();
      return;
    }
    const std::size_t size = raft::entries_size(m.entries) + 64;
    // Down (backing off) or full: drop now and tell the core, rather than queue without bound.
    if (!up_ && clock::now() < retry_at_) {
      ++status_.dropped;
      const bool report = !reported_;
      reported_ = true;
      lock.unlock();
      if (report) receiver_->report_unreachable(id_);
      return;
    }
    if (queue_.size() >= opt_.max_queue_messages || queued_bytes_ + size > opt_.max_queue_bytes) {
      ++status_.dropped;
      lock.unlock();
      receiver_->report_unreachable(id_);
      return;
    }
    queued_bytes_ += size;
    queue_.push_back(std::move(m));
    lock.unlock();
    cv_.notify_all();
  }

  peer_status status() const {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  void mark_down(const std::string& error) {
    // Caller holds mu_.
    up_ = false;
    status_.active = false;
    status_.last_error = error;
    backoff_ = backoff_.count() == 0 ? opt_.backoff_min : std::min(backoff_ * 2, opt_.backoff_max);
    retry_at_ = clock::now() + backoff_;
    reported_ = false;
  }

  void send_loop() {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientWriter<pb::Batch>> writer;
    pb::StreamAck ack;
    while (true) {
      std::vector<raft::message> batch;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) break;
        std::size_t bytes = 0;
        while (!queue_.empty() && (batch.empty() || bytes < opt_.max_batch_bytes)) {
          bytes += raft::entries_size(queue_.front().entries) + 64;
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        queued_bytes_ -= std::min(queued_bytes_, bytes);
      }
      if (!writer) {
        ctx = std::make_unique<grpc::ClientContext>();
        ctx->set_wait_for_ready(false);
        {
          std::lock_guard lock(mu_);
          stream_ctx_ = ctx.get();
        }
        if (!channel_->WaitForConnected(std::chrono::system_clock::now() + opt_.connect_timeout)) {
          {
            std::lock_guard lock(mu_);
            stream_ctx_ = nullptr;
            status_.dropped += batch.size();
            mark_down("cannot connect to " + address_);
          }
          ctx.reset();
          receiver_->report_unreachable(id_);
          continue;
        }
        writer = stub_->Stream(ctx.get(), &ack);
        std::lock_guard lock(mu_);
        up_ = true;
        status_.active = true;
        status_.active_since = std::chrono::system_clock::now();
        backoff_ = std::chrono::milliseconds{0};
      }
      pb::Batch out;
      out.set_from(self_.value());
      out.set_from_addr(opt_.advertise);
      std::size_t bytes = 0;
      for (const auto& m : batch) {
        auto* pm = out.add_messages();
        to_pb(m, pm);
      }
      bytes = out.ByteSizeLong();
      if (!writer->Write(out)) {
        const grpc::Status st = writer->Finish();
        writer.reset();
        {
          std::lock_guard lock(mu_);
          stream_ctx_ = nullptr;
          status_.dropped += batch.size();
          mark_down("stream to " + address_ + " broke: " + st.error_message());
        }
        ctx.reset();
        // The batch is lost: the core learns the peer is unreachable and probes it.
        receiver_->report_unreachable(id_);
        continue;
      }
      std::lock_guard lock(mu_);
      status_.bytes_sent += bytes;
    }
    if (writer) {
      writer->WritesDone();
      (void)writer->Finish();
    }
  }

  void snapshot_loop() {
    while (true) {
      raft::message m;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || pending_snap_.has_value(); });
        if (stopping_) break;
        m = std::move(*pending_snap_);
      }
      const bool ok = send_snapshot(m);
      {
        std::lock_guard lock(mu_);
        pending_snap_.reset();
      }
      receiver_->report_snapshot(id_, ok);
    }
  }

  // Reads the snapshot's data chunk by chunk: inline bytes, or the file a reference names
  // (never whole into memory).
  struct snapshot_source {
    std::string_view inline_data;
    int fd = -1;
    std::uint64_t size = 0;
    std::uint64_t off = 0;
    ~snapshot_source() {
      if (fd >= 0) ::close(fd);
    }
    bool next(std::size_t max, std::string& out) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(max, size - off));
      if (fd < 0) {
        out.assign(inline_data.substr(off, n));
      } else {
        out.resize(n);
        std::size_t got = 0;
        while (got < n) {
          const ssize_t r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(off + got));
          if (r < 0 && errno == EINTR) continue;
          if (r <= 0) return false;
          got += static_cast<std::size_t>(r);
        }
      }
      off += n;
      return true;
    }
  };

  bool send_snapshot(const raft::message& m) {
    const std::string_view data = m.snap ? m.snap->data.view() : std::string_view{};
    snapshot_source source;
    const auto ref = storage::decode_file_ref(data);
    if (ref) {
      source.fd = ::open(ref->path.c_str(), O_RDONLY | O_CLOEXEC);
      if (source.fd < 0) {
        std::lock_guard lock(mu_);
        status_.last_error = "snapshot to " + address_ + ": cannot open " + ref->path;
        return false;
      }
      source.size = ref->size;
    } else {
      source.inline_data = data;
      source.size = data.size();
    }
    grpc::ClientContext ctx;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return false;
      snap_ctx_ = &ctx;
    }
    pb::SnapshotAck ack;
    auto writer = stub_->Snapshot(&ctx, &ack);
    raft::message header = m;
    if (m.snap) {
      header.snap =
          std::make_shared<const raft::snapshot>(raft::snapshot{raft::payload{}, m.snap->metadata});
    }
    bool ok = true;
    bool first = true;
    do {
      pb::SnapshotChunk chunk;
      chunk.set_from(self_.value());
      if (first) {
        to_pb(header, chunk.mutable_header());
        if (ref) {
          chunk.set_file(true);
          chunk.set_file_size(ref->size);
          chunk.set_file_crc(ref->crc);
        }
      }
      if (!source.next(opt_.snapshot_chunk_bytes, *chunk.mutable_data())) {
        ok = false;
        ctx.TryCancel();
        break;
      }
      const std::size_t n = chunk.data().size();
      chunk.set_last(source.off >= source.size);
      first = false;
      if (!writer->Write(chunk)) {
        ok = false;
        break;
      }
      std::lock_guard lock(mu_);
      status_.bytes_sent += n;
    } while (source.off < source.size);
    if (ok) writer->WritesDone();
    const grpc::Status st = writer->Finish();
    std::lock_guard lock(mu_);
    snap_ctx_ = nullptr;
    if (!ok || !st.ok() || !ack.ok()) {
      status_.last_error =
          "snapshot to " + address_ + " failed: " +
          (!ok ? "cannot read the snapshot file" : (st.ok() ? ack.error() : st.error_message()));
      return false;
    }
    return ok;
  }

  node_id self_;
  node_id id_;
  std::string address_;
  transport_options opt_;
  receiver* receiver_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Raft::Stub> stub_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<raft::message> queue_;
  std::size_t queued_bytes_ = 0;
  std::optional<raft::message> pending_snap_;
  bool stopping_ = false;
  bool up_ = true;  // optimistic until a connection fails
  bool reported_ = false;
  clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
  grpc::ClientContext* stream_ctx_ = nullptr;
  grpc::ClientContext* snap_ctx_ = nullptr;
  peer_status status_;

  std::thread sender_;
  std::thread snapshotter_;
};

}  // namespace

struct grpc_transport::impl final : public pb::Raft::Service {
  node_id self;
  transport_options opt;
  receiver* rcv = nullptr;
  std::unique_ptr<grpc::Server> server;

  mutable std::mutex mu;
  std::map<node_id, std::unique_ptr<peer>> peers;
  std::map<node_id, std::uint64_t> received;            // bytes received per sender
  std::map<node_id, std::deque<std::string>> receipts;  // snapshot files received per sender
  std::atomic<std::uint64_t> receive_seq{0};

  void learn_peer(node_id id, const std::string& address);

  grpc::Status Stream(grpc::ServerContext*, grpc::ServerReader<pb::Batch>* reader,
                      pb::StreamAck*) override {
    pb::Batch batch;
    while (reader->Read(&batch)) {
      {
        std::lock_guard lock(mu);
        received[node_id{batch.from()}] += batch.ByteSizeLong();
      }
      // A member we have no address for (it joined, or we restarted): learn it from the stream.
      if (!batch.from_addr().empty()) learn_peer(node_id{batch.from()}, batch.from_addr());
      for (const auto& pm : batch.messages()) {
        auto m = raft::codec::decode_message(pm.SerializeAsString());
        if (!m) {
          spdlog::warn("transport: dropping a message from {} that does not decode: {}",
                       batch.from(), m.err().message);
          continue;
        }
        rcv->step(std::move(m).value());
      }
    }
    return grpc::Status::OK;
  }

  // A snapshot file being received: written chunk by chunk, checked at the end.
  struct snapshot_sink {
    std::string path;
    int fd = -1;
    std::uint64_t size = 0;
    std::uint32_t crc = 0;
    bool keep = false;
    ~snapshot_sink() {
      if (fd >= 0) ::close(fd);
      if (!keep && !path.empty()) ::unlink(path.c_str());
    }
  };

  grpc::Status Snapshot(grpc::ServerContext*, grpc::ServerReader<pb::SnapshotChunk>* reader,
                        pb::SnapshotAck* ack) override {
    pb::SnapshotChunk chunk;
    std::optional<raft::message> header;
    std::string data;
    std::optional<snapshot_sink> sink;
    std::uint64_t expect_size = 0;
    std::uint32_t expect_crc = 0;
    bool complete = false;
    std::uint64_t from = 0;
    std::uint64_t bytes = 0;
    auto refuse = [&](const std::string& why) {
      ack->set_ok(false);
      ack->set_error(why);
      spdlog::warn("transport: refusing a snapshot from {:x}: {}", from, why);
      return grpc::Status::OK;
    };
    while (reader->Read(&chunk)) {
      from = chunk.from();
      if (chunk.has_header()) {
        auto m = raft::codec::decode_message(chunk.header().SerializeAsString());
        if (!m || !m->snap) return refuse("bad snapshot header");
        header = std::move(m).value();
        if (chunk.file()) {
          if (opt.snapshot_dir.empty()) return refuse("this server cannot receive file snapshots");
          sink.emplace();
          sink->path = fmt::format("{}/recv-{:x}-{:x}-{}.tmp", opt.snapshot_dir, from,
                                   header->snap->metadata.index.value(), ++receive_seq);
          sink->fd = ::open(sink->path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
          if (sink->fd < 0) return refuse("cannot create " + sink->path);
          expect_size = chunk.file_size();
          expect_crc = chunk.file_crc();
        }
      }
      bytes += chunk.data().size();
      if (sink) {
        if (auto st = storage::pwrite_all(sink->fd, chunk.data(), sink->size, sink->path); !st)
          return refuse(st.err().message);
        sink->crc = storage::crc32c(chunk.data(), sink->crc);
        sink->size += chunk.data().size();
      } else {
        data += chunk.data();
      }
      if (chunk.last()) complete = true;
    }
    {
      std::lock_guard lock(mu);
      received[node_id{from}] += bytes;
    }
    if (!header || !complete) return refuse("incomplete snapshot stream");
    raft::payload payload;
    if (sink) {
      if (sink->size != expect_size || sink->crc != expect_crc) {
        return refuse(
            fmt::format("snapshot file arrived with {} bytes, CRC {:08x}; sent as {} "
                        "bytes, CRC {:08x}",
                        sink->size, sink->crc, expect_size, expect_crc));
      }
      if (::fsync(sink->fd) != 0) return refuse("cannot fsync " + sink->path);
      sink->keep = true;
      payload = raft::payload(storage::encode_file_ref({sink->path, sink->size, sink->crc}));
      forget_older_receipts(node_id{from}, sink->path);
    } else {
      payload = raft::payload(std::move(data));
    }
    header->snap = std::make_shared<const raft::snapshot>(
        raft::snapshot{std::move(payload), header->snap->metadata});
    rcv->step(std::move(*header));
    ack->set_ok(true);
    return grpc::Status::OK;
  }

  // Storage adopts a received file (renames it) when the core accepts the snapshot; one the
  // core ignored (stale) would stay. Remove a sender's receipts older than its previous one.
  void forget_older_receipts(node_id from, const std::string& newest) {
    std::lock_guard lock(mu);
    auto& paths = receipts[from];
    paths.push_back(newest);
    while (paths.size() > 2) {
      ::unlink(paths.front().c_str());
      paths.pop_front();
    }
  }
};

void grpc_transport::impl::learn_peer(node_id id, const std::string& address) {
  std::lock_guard lock(mu);
  if (peers.count(id) || id == self) return;
  peers[id] = std::make_unique<peer>(self, id, address, opt, rcv);
}

grpc_transport::grpc_transport(node_id self, transport_options options)
    : impl_(std::make_unique<impl>()) {
  impl_->self = self;
  impl_->opt = options;
}

grpc_transport::~grpc_transport() {
  stop();
}

base::result<int> grpc_transport::start(const std::string& listen, receiver& r,
                                        const std::vector<grpc::Service*>& extra) {
  impl_->rcv = &r;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(impl_.get());
  for (auto* s : extra)
    builder.RegisterService(s);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || port == 0) {
    return base::fail(base::errc::io_error, "cannot listen for Raft RPCs on " + listen);
  }
  return port;
}

void grpc_transport::stop() {
  if (!impl_) return;
  std::map<node_id, std::unique_ptr<peer>> peers;
  {
    std::lock_guard lock(impl_->mu);
    peers.swap(impl_->peers);
  }
  peers.clear();  // joins the sender threads
  if (impl_->server) {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    impl_->server.reset();
  }
}

void grpc_transport::set_peer(node_id id, const std::string& address) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->peers.find(id);
  if (it != impl_->peers.end() && it->second->status().address == address) return;
  impl_->peers[id] = std::make_unique<peer>(impl_->self, id, address, impl_->opt, impl_->rcv);
}

void grpc_transport::remove_peer(node_id id) {
  std::unique_ptr<peer> p;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->peers.find(id);
    if (it == impl_->peers.end()) return;
    p = std::move(it->second);
    impl_->peers.erase(it);
  }
}

void grpc_transport::send(std::vector<raft::message> messages) {
  std::lock_guard lock(impl_->mu);
  for (auto& m : messages) {
    auto it = impl_->peers.find(m.to);
    if (it == impl_->peers.end()) {
      // No address known (e.g. a member added before its address arrived): unreachable.
      if (impl_->rcv) impl_->rcv->report_unreachable(m.to);
      continue;
    }
    it->second->enqueue(std::move(m));
  }
}

std::vector<peer_status> grpc_transport::status() const {
  std::lock_guard lock(impl_->mu);
  std::vector<peer_status> out;
  for (const auto& [id, p] : impl_->peers) {
    auto s = p->status();
    auto r = impl_->received.find(id);
    if (r != impl_->received.end()) s.bytes_received = r->second;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace sundial::transport
