// libnccl.so.2 of the software GPU: the NCCL subset RingAttention.Nccl calls, between the processes of one machine
// (an MPI job's ranks, each with its own software GPU). A communicator is a folder under /dev/shm named by the
// unique id; a message from rank a to rank b is a file `a-b-<sequence>`, written under a temporary name and renamed
// (so it appears whole); collectives are files per rank per call. Sends read the device buffer when the group is
// submitted (every earlier operation of the stream has run: the driver shim executes eagerly) and never block;
// receives and collectives complete on a progress thread, which ends the stream's external ticket (cuda_shim.cpp), so
// events recorded after them complete when the data has landed, as with NCCL's kernels.
// Faults surface as NCCL errors: a peer process that died turns into ncclRemoteError from ncclCommGetAsyncError,
// a message of the wrong size into ncclInvalidUsage; a peer that hangs leaves the receive pending (the caller's
// timeout names it); ncclCommAbort stops the progress thread, completes the stream's outstanding tickets and
// removes the communicator's folder (the job is ending).
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#define EXPORT extern "C" __attribute__((visibility("default")))

extern "C" int softgpu_current_device();
extern "C" uint64_t softgpu_stream_begin_external(void* stream);
extern "C" void softgpu_stream_end_external(void* stream, uint64_t ticket);

namespace {

enum Result { Success = 0, UnhandledCudaError = 1, SystemError = 2, InternalError = 3, InvalidArgument = 4, InvalidUsage = 5, RemoteError = 6, InProgress = 7 };
enum DataType { Int8 = 0, Uint8 = 1, Int32 = 2, Uint32 = 3, Int64 = 4, Uint64 = 5, Float16 = 6, Float32 = 7, Float64 = 8, BFloat16 = 9 };
enum Reduction { Sum = 0, Product = 1, Max = 2, Min = 3 };

const char kMagic[16] = "ringattn-softnc";
constexpr int kVersionCode = 21805;  // the NCCL 2.18.5 API this models

size_t type_size(int type) {
    switch (type) {
        case Int8: case Uint8: return 1;
        case Float16: case BFloat16: return 2;
        case Int32: case Uint32: case Float32: return 4;
        case Int64: case Uint64: case Float64: return 8;
        default: return 0;
    }
}

struct Operation {
    enum Kind { Send, Receive, AllReduce, Broadcast } kind;
    void* send;
    void* receive;
    size_t count;
    int type;
    int op;
    int peer;  // send/receive peer, broadcast root
    uint64_t sequence = 0;  // per-peer message number (receive), or the collective's number
};

struct Comm;

struct Group {
    Comm* comm;
    void* stream;
    uint64_t ticket;
    std::vector<Operation> operations;
};

struct Comm {
    std::string folder;
    int ranks, rank, device;
    std::map<int, uint64_t> sent, received;  // per peer message sequence
    uint64_t collectives = 0;
    std::atomic<int> async_error{Success};
    std::string last_error;
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Group> queue;
    bool stopping = false;
    std::thread progress;
    std::vector<pid_t> pids;
};

thread_local int group_depth = 0;
thread_local std::vector<std::pair<Comm*, Operation>> pending;
thread_local std::map<Comm*, void*> pending_streams;
std::string global_error;

std::string hex(const unsigned char* bytes, size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; ++i) {
        out += digits[bytes[i] >> 4];
        out += digits[bytes[i] & 15];
    }
    return out;
}

bool write_atomically(const std::string& path, const void* data, size_t bytes) {
    const std::string temporary = path + ".tmp" + std::to_string(getpid());
    FILE* file = std::fopen(temporary.c_str(), "wb");
    if (!file) return false;
    bool ok = bytes == 0 || std::fwrite(data, 1, bytes, file) == bytes;
    ok = std::fclose(file) == 0 && ok;
    return ok && std::rename(temporary.c_str(), path.c_str()) == 0;
}

// Reads `path` into `data` when it exists with exactly `bytes` bytes: 1; absent: 0; another size: -1.
int read_exactly(const std::string& path, void* data, size_t bytes) {
    FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) return 0;
    std::fseek(file, 0, SEEK_END);
    const long size = std::ftell(file);
    std::fseek(file, 0, SEEK_SET);
    int result = -1;
    if (size >= 0 && (size_t)size == bytes) result = bytes == 0 || std::fread(data, 1, bytes, file) == bytes ? 1 : -1;
    std::fclose(file);
    return result;
}

// A peer process that is gone: its pid no longer exists.
int dead_peer(const Comm& comm) {
    for (int r = 0; r < comm.ranks; ++r) {
        if (r != comm.rank && comm.pids[r] > 0 && kill(comm.pids[r], 0) != 0 && errno == ESRCH) return r;
    }
    return -1;
}

template <typename T>
void reduce_typed(T* into, const T* from, size_t count, int op) {
    for (size_t i = 0; i < count; ++i) {
        switch (op) {
            case Sum: into[i] = into[i] + from[i]; break;
            case Product: into[i] = into[i] * from[i]; break;
            case Max: into[i] = into[i] < from[i] ? from[i] : into[i]; break;
            default: into[i] = from[i] < into[i] ? from[i] : into[i]; break;
        }
    }
}

bool reduce(void* into, const void* from, size_t count, int type, int op) {
    switch (type) {
        case Float32: reduce_typed((float*)into, (const float*)from, count, op); return true;
        case Float64: reduce_typed((double*)into, (const double*)from, count, op); return true;
        case Int32: reduce_typed((int32_t*)into, (const int32_t*)from, count, op); return true;
        case Uint32: reduce_typed((uint32_t*)into, (const uint32_t*)from, count, op); return true;
        case Int64: reduce_typed((int64_t*)into, (const int64_t*)from, count, op); return true;
        case Uint64: reduce_typed((uint64_t*)into, (const uint64_t*)from, count, op); return true;
        case Int8: reduce_typed((int8_t*)into, (const int8_t*)from, count, op); return true;
        case Uint8: reduce_typed((uint8_t*)into, (const uint8_t*)from, count, op); return true;
        default: return false;  // 16-bit floating types: not needed by the product
    }
}

void set_error(Comm& comm, int code, const std::string& text) {
    int expected = Success;
    if (comm.async_error.compare_exchange_strong(expected, code)) {
        std::lock_guard<std::mutex> lock(comm.mutex);
        comm.last_error = text;
        std::fprintf(stderr, "software NCCL: rank %d: %s\n", comm.rank, text.c_str());
    }
}

// Waits until `done` returns true, or the communicator stops or fails: false then.
template <typename Done>
bool poll(Comm& comm, Done done) {
    for (int round = 0;; ++round) {
        if (done()) return true;
        {
            std::lock_guard<std::mutex> lock(comm.mutex);
            if (comm.stopping) return false;
        }
        if (comm.async_error.load() != Success) return false;
        if (round % 200 == 0) {
            if (int peer = dead_peer(comm); peer >= 0) {
                set_error(comm, RemoteError, "rank " + std::to_string(peer) + " (pid " + std::to_string(comm.pids[peer]) + ") exited");
                return false;
            }
        }
        std::this_thread::sleep_for(std::chrono::microseconds(round < 100 ? 20 : 500));
    }
}

bool run_operation(Comm& comm, const Operation& o, uint64_t sequence_or_collective) {
    const size_t bytes = o.count * type_size(o.type);
    switch (o.kind) {
        case Operation::Send:
            return true;  // written at submission
        case Operation::Receive: {
            const std::string path = comm.folder + "/" + std::to_string(o.peer) + "-" + std::to_string(comm.rank) + "-" + std::to_string(sequence_or_collective);
            int status = 0;
            if (!poll(comm, [&] { return (status = read_exactly(path, o.receive, bytes)) != 0; })) return false;
            if (status < 0) {
                set_error(comm, InvalidUsage, "message " + std::to_string(sequence_or_collective) + " from rank " + std::to_string(o.peer) +
                                                  " does not have the " + std::to_string(bytes) + " bytes this rank receives");
                return false;
            }
            std::remove(path.c_str());
            return true;
        }
        case Operation::AllReduce: {
            const std::string prefix = comm.folder + "/allreduce-" + std::to_string(sequence_or_collective) + "-";
            std::vector<unsigned char> result(bytes), part(bytes);
            for (int r = 0; r < comm.ranks; ++r) {
                int status = 0;
                const std::string path = prefix + std::to_string(r);
                if (!poll(comm, [&] { return (status = read_exactly(path, r == 0 ? result.data() : part.data(), bytes)) != 0; })) return false;
                if (status < 0) {
                    set_error(comm, InvalidUsage, "all-reduce " + std::to_string(sequence_or_collective) + ": rank " + std::to_string(r) + " contributed another size");
                    return false;
                }
                if (r > 0 && !reduce(result.data(), part.data(), o.count, o.type, o.op)) {
                    set_error(comm, InvalidArgument, "all-reduce of data type " + std::to_string(o.type) + " is not supported by the software NCCL");
                    return false;
                }
            }
            std::memcpy(o.receive, result.data(), bytes);
            return true;
        }
        case Operation::Broadcast: {
            if (comm.rank == o.peer) {
                if (o.receive != o.send) std::memmove(o.receive, o.send, bytes);
                return true;
            }
            const std::string path = comm.folder + "/broadcast-" + std::to_string(sequence_or_collective);
            int status = 0;
            if (!poll(comm, [&] { return (status = read_exactly(path, o.receive, bytes)) != 0; })) return false;
            return status > 0;
        }
    }
    return false;
}

void progress_loop(Comm* comm) {
    for (;;) {
        Group group;
        {
            std::unique_lock<std::mutex> lock(comm->mutex);
            comm->wake.wait(lock, [&] { return comm->stopping || !comm->queue.empty(); });
            if (comm->stopping) return;
            group = comm->queue.front();
        }
        bool ok = true;
        for (const Operation& o : group.operations) {
            if (!run_operation(*comm, o, o.sequence)) {
                ok = false;
                break;
            }
        }
        (void)ok;  // a failed group still ends its ticket: the error is reported by ncclCommGetAsyncError
        softgpu_stream_end_external(group.stream, group.ticket);
        std::lock_guard<std::mutex> lock(comm->mutex);
        comm->queue.pop_front();
    }
}

// Submits one group of a communicator: sends and collective contributions are written now, the rest is queued.
int submit(Comm* comm, std::vector<Operation> operations, void* stream) {
    if (comm->async_error.load() != Success) return comm->async_error.load();
    // First the stream's earlier work and awaited events (the driver shim waits for them), then the sends read.
    const uint64_t ticket = softgpu_stream_begin_external(stream);
    for (Operation& o : operations) {
        const size_t bytes = o.count * type_size(o.type);
        switch (o.kind) {
            case Operation::Send: {
                const uint64_t sequence = comm->sent[o.peer]++;
                const std::string path = comm->folder + "/" + std::to_string(comm->rank) + "-" + std::to_string(o.peer) + "-" + std::to_string(sequence);
                if (!write_atomically(path, o.send, bytes)) {
                    softgpu_stream_end_external(stream, ticket);
                    return SystemError;
                }
                break;
            }
            case Operation::Receive:
                o.sequence = comm->received[o.peer]++;
                break;
            case Operation::AllReduce: {
                const uint64_t sequence = comm->collectives++;
                if (!write_atomically(comm->folder + "/allreduce-" + std::to_string(sequence) + "-" + std::to_string(comm->rank), o.send, bytes)) {
                    softgpu_stream_end_external(stream, ticket);
                    return SystemError;
                }
                o.sequence = sequence;
                break;
            }
            case Operation::Broadcast: {
                const uint64_t sequence = comm->collectives++;
                if (comm->rank == o.peer && !write_atomically(comm->folder + "/broadcast-" + std::to_string(sequence), o.send, bytes)) {
                    softgpu_stream_end_external(stream, ticket);
                    return SystemError;
                }
                o.sequence = sequence;
                break;
            }
        }
    }
    Group group{comm, stream, ticket, std::move(operations)};
    {
        std::lock_guard<std::mutex> lock(comm->mutex);
        comm->queue.push_back(std::move(group));
    }
    comm->wake.notify_one();
    return Success;
}

int enqueue(Comm* comm, const Operation& operation, void* stream) {
    if (!comm) return InvalidArgument;
    if (type_size(operation.type) == 0) return InvalidArgument;
    if (group_depth > 0) {
        pending.emplace_back(comm, operation);
        pending_streams[comm] = stream;
        return Success;
    }
    return submit(comm, {operation}, stream);
}

void stop(Comm* comm) {
    {
        std::lock_guard<std::mutex> lock(comm->mutex);
        comm->stopping = true;
    }
    comm->wake.notify_all();
    if (comm->progress.joinable()) comm->progress.join();
    // Outstanding work is abandoned; its stream tickets complete so nothing waits for it forever.
    for (Group& group : comm->queue) softgpu_stream_end_external(group.stream, group.ticket);
    comm->queue.clear();
}

}  // namespace

EXPORT int ncclGetVersion(int* version) {
    if (!version) return InvalidArgument;
    *version = kVersionCode;
    return Success;
}

EXPORT const char* ncclGetErrorString(int result) {
    switch (result) {
        case Success: return "no error";
        case UnhandledCudaError: return "unhandled cuda error";
        case SystemError: return "unhandled system error (software NCCL: a file under /dev/shm could not be written)";
        case InternalError: return "internal error";
        case InvalidArgument: return "invalid argument";
        case InvalidUsage: return "invalid usage";
        case RemoteError: return "remote process exited or there was a network error";
        case InProgress: return "NCCL operation in progress";
        default: return "unknown result code";
    }
}

EXPORT const char* ncclGetLastError(void* comm) {
    if (comm) {
        auto* c = static_cast<Comm*>(comm);
        std::lock_guard<std::mutex> lock(c->mutex);
        global_error = c->last_error;
    }
    return global_error.c_str();
}

EXPORT int ncclGetUniqueId(unsigned char* id) {
    if (!id) return InvalidArgument;
    std::memset(id, 0, 128);
    std::memcpy(id, kMagic, sizeof kMagic);
    std::random_device random;
    for (int i = 16; i < 32; ++i) id[i] = (unsigned char)random();
    return Success;
}

struct UniqueId {
    unsigned char bytes[128];
};

EXPORT int ncclCommInitRank(void** comm, int ranks, UniqueId unique_id, int rank) {
    // ncclUniqueId is passed by value (128 bytes: on the stack in the SysV ABI), as NCCL declares it.
    const unsigned char* id = unique_id.bytes;
    if (!comm || ranks < 1 || rank < 0 || rank >= ranks) return InvalidArgument;
    if (std::memcmp(id, kMagic, sizeof kMagic) != 0) {
        global_error = "the unique id was not made by the software NCCL's ncclGetUniqueId";
        return InvalidArgument;
    }
    auto* c = new Comm;
    c->folder = "/dev/shm/ringattn-softnccl-" + hex(id + 16, 16);
    c->ranks = ranks;
    c->rank = rank;
    c->device = softgpu_current_device();
    if (c->device < 0) {
        delete c;
        global_error = "no current CUDA context (the software GPU's) on the calling thread";
        return UnhandledCudaError;
    }
    mkdir(c->folder.c_str(), 0700);
    const std::string pid = std::to_string(getpid());
    if (!write_atomically(c->folder + "/rank-" + std::to_string(rank), pid.c_str(), pid.size())) {
        delete c;
        return SystemError;
    }
    // Every rank joins before the communicator exists, as with NCCL (the caller's watchdog bounds the wait).
    c->pids.assign(ranks, 0);
    for (int r = 0; r < ranks; ++r) {
        for (;;) {
            std::ifstream in(c->folder + "/rank-" + std::to_string(r));
            long value = 0;
            if (in >> value) {
                c->pids[r] = (pid_t)value;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    c->progress = std::thread(progress_loop, c);
    *comm = c;
    return Success;
}

EXPORT int ncclCommCuDevice(void* comm, int* device) {
    if (!comm || !device) return InvalidArgument;
    *device = static_cast<Comm*>(comm)->device;
    return Success;
}

EXPORT int ncclGroupStart() {
    ++group_depth;
    return Success;
}

EXPORT int ncclGroupEnd() {
    if (group_depth == 0) return InvalidUsage;
    if (--group_depth > 0) return Success;
    std::map<Comm*, std::vector<Operation>> by_comm;
    for (auto& [comm, operation] : pending) by_comm[comm].push_back(operation);
    pending.clear();
    int result = Success;
    for (auto& [comm, operations] : by_comm) {
        int status = submit(comm, std::move(operations), pending_streams[comm]);
        if (status != Success) result = status;
    }
    pending_streams.clear();
    return result;
}

EXPORT int ncclSend(const void* buffer, size_t count, int type, int peer, void* comm, void* stream) {
    auto* c = static_cast<Comm*>(comm);
    if (!c || peer < 0 || peer >= c->ranks) return InvalidArgument;
    return enqueue(c, Operation{Operation::Send, const_cast<void*>(buffer), nullptr, count, type, 0, peer}, stream);
}

EXPORT int ncclRecv(void* buffer, size_t count, int type, int peer, void* comm, void* stream) {
    auto* c = static_cast<Comm*>(comm);
    if (!c || peer < 0 || peer >= c->ranks) return InvalidArgument;
    return enqueue(c, Operation{Operation::Receive, nullptr, buffer, count, type, 0, peer}, stream);
}

EXPORT int ncclAllReduce(const void* send, void* receive, size_t count, int type, int op, void* comm, void* stream) {
    if (op < Sum || op > Min) return InvalidArgument;
    return enqueue(static_cast<Comm*>(comm), Operation{Operation::AllReduce, const_cast<void*>(send), receive, count, type, op, 0}, stream);
}

EXPORT int ncclBroadcast(const void* send, void* receive, size_t count, int type, int root, void* comm, void* stream) {
    auto* c = static_cast<Comm*>(comm);
    if (!c || root < 0 || root >= c->ranks) return InvalidArgument;
    return enqueue(c, Operation{Operation::Broadcast, const_cast<void*>(send), receive, count, type, 0, root}, stream);
}

EXPORT int ncclCommGetAsyncError(void* comm, int* error) {
    if (!comm || !error) return InvalidArgument;
    *error = static_cast<Comm*>(comm)->async_error.load();
    return Success;
}

EXPORT int ncclCommFinalize(void* comm) {
    auto* c = static_cast<Comm*>(comm);
    if (!c) return InvalidArgument;
    // Flush: wait for this rank's queued groups to complete (or fail).
    for (;;) {
        {
            std::lock_guard<std::mutex> lock(c->mutex);
            if (c->queue.empty() || c->async_error.load() != Success) break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return c->async_error.load();
}

// `aborting`: the communicator is dead for every rank (the job is ending), so this rank removes the folder at once;
// otherwise the last rank to leave removes it.
static int destroy(Comm* c, bool aborting) {
    stop(c);
    const std::string done = c->folder + "/done-" + std::to_string(c->rank);
    write_atomically(done, "", 0);
    int finished = 0;
    for (int r = 0; r < c->ranks; ++r) finished += access((c->folder + "/done-" + std::to_string(r)).c_str(), F_OK) == 0;
    if (aborting || finished == c->ranks) {
        if (DIR* dir = opendir(c->folder.c_str())) {
            while (dirent* entry = readdir(dir)) {
                if (entry->d_name[0] != '.') std::remove((c->folder + "/" + entry->d_name).c_str());
            }
            closedir(dir);
        }
        rmdir(c->folder.c_str());
    }
    delete c;
    return Success;
}

EXPORT int ncclCommDestroy(void* comm) {
    if (!comm) return InvalidArgument;
    return destroy(static_cast<Comm*>(comm), false);
}

EXPORT int ncclCommAbort(void* comm) {
    if (!comm) return InvalidArgument;
    return destroy(static_cast<Comm*>(comm), true);
}
