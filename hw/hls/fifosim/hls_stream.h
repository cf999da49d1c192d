// Bounded, blocking hls::stream for the FIFO-depth simulation (hw/hls/fifosim.py).
//
// Why: hls4ml's C simulation runs the dataflow processes one after another on unbounded streams, so
// it cannot see a FIFO that is too shallow. Here every process runs in its own thread, a stream
// bounded with fifosim::bound() holds at most its STREAM depth, read() blocks on empty and write()
// blocks on full as in hardware. When every live process is blocked the network is deadlocked:
// the monitor prints who waits on which FIFO and exits (never a hang). Found on the include path
// before hls4ml's ap_types/hls_stream.h, so the firmware compiles unchanged against it.
#ifndef X_HLS_STREAM_SIM_H
#define X_HLS_STREAM_SIM_H

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fifosim {

struct Process {
    std::string name;
    unsigned images = 0;
    int state = 0; // 0 running, 1 blocked on empty, 2 blocked on full, 3 done
    std::string fifo;
};

struct FifoInfo {
    std::string name;
    size_t depth = 0;
    size_t peak = 0;
    uint64_t writes = 0;
    uint64_t full_waits = 0;
    size_t occupancy = 0; // kept in the world so that the report outlives the streams
    std::string reader, writer; // the processes that read and write it (seen at run time)
};

struct World {
    std::mutex m;
    std::vector<Process *> procs;
    std::vector<FifoInfo *> fifos;
    std::vector<std::thread> threads;
    std::map<std::string, size_t> overrides;
    unsigned live = 0, blocked = 0;
    uint64_t progress = 0;
};

inline World &world() {
    static World w;
    return w;
}

inline Process *&current() {
    thread_local Process *p = nullptr;
    return p;
}

} // namespace fifosim

namespace hls {

template <typename T> class stream {
  public:
    stream() : _name("stream") {}
    stream(const char *name) : _name(name) {}
    stream(const std::string &name) : _name(name) {}
    stream(const stream &) = delete;
    stream &operator=(const stream &) = delete;
    ~stream() {}

    void set_depth(size_t depth) {
        std::lock_guard<std::mutex> g(fifosim::world().m);
        auto &w = fifosim::world();
        auto it = w.overrides.find(_name);
        _info = new fifosim::FifoInfo();
        _info->name = _name;
        _info->depth = it == w.overrides.end() ? depth : it->second;
        w.fifos.push_back(_info);
    }
    const std::string &name() const { return _name; }

    bool empty() {
        std::lock_guard<std::mutex> g(fifosim::world().m);
        return _data.empty();
    }
    bool full() {
        std::lock_guard<std::mutex> g(fifosim::world().m);
        return _info && _data.size() >= _info->depth;
    }
    size_t size() {
        std::lock_guard<std::mutex> g(fifosim::world().m);
        return _data.size();
    }

    void read(T &head) {
        auto &w = fifosim::world();
        std::unique_lock<std::mutex> lk(w.m);
        if (_info && _info->reader.empty() && fifosim::current())
            _info->reader = fifosim::current()->name;
        wait(lk, _not_empty, 1, [this]() { return !_data.empty(); });
        pop(head);
    }
    T read() {
        T head;
        read(head);
        return head;
    }
    bool read_nb(T &head) {
        auto &w = fifosim::world();
        std::lock_guard<std::mutex> g(w.m);
        if (_data.empty())
            return false;
        pop(head);
        return true;
    }
    void write(const T &tail) {
        auto &w = fifosim::world();
        std::unique_lock<std::mutex> lk(w.m);
        if (_info && _info->writer.empty() && fifosim::current())
            _info->writer = fifosim::current()->name;
        if (_info && _data.size() >= _info->depth)
            _info->full_waits++;
        wait(lk, _not_full, 2, [this]() { return !_info || _data.size() < _info->depth; });
        push(tail);
    }
    bool write_nb(const T &tail) {
        auto &w = fifosim::world();
        std::lock_guard<std::mutex> g(w.m);
        if (_info && _data.size() >= _info->depth)
            return false;
        push(tail);
        return true;
    }
    void operator>>(T &rdata) { read(rdata); }
    void operator<<(const T &wdata) { write(wdata); }

  private:
    // Both called with the world's mutex held.
    void pop(T &head) {
        head = _data.front();
        _data.pop_front();
        if (_info)
            _info->occupancy = _data.size();
        fifosim::world().progress++;
        _not_full.notify_all();
    }
    void push(const T &tail) {
        _data.push_back(tail);
        if (_info) {
            _info->writes++;
            _info->occupancy = _data.size();
            if (_data.size() > _info->peak)
                _info->peak = _data.size();
        }
        fifosim::world().progress++;
        _not_empty.notify_all();
    }

    template <class Ready> void wait(std::unique_lock<std::mutex> &lk, std::condition_variable &cv, int why, Ready ready) {
        if (ready())
            return;
        auto &w = fifosim::world();
        fifosim::Process *p = fifosim::current();
        if (p == nullptr) { // a stream used outside the process network (sequential C simulation)
            if (why == 1) {
                std::fprintf(stderr, "fifosim: read from empty stream %s outside a process\n", _name.c_str());
                std::exit(4);
            }
            return; // unbounded for the feeder
        }
        p->state = why;
        p->fifo = _name;
        w.blocked++;
        while (!ready())
            cv.wait(lk);
        w.blocked--;
        p->state = 0;
    }

    std::string _name;
    std::deque<T> _data;
    fifosim::FifoInfo *_info = nullptr; // set by fifosim::bound(): a bounded FIFO of the design
    std::condition_variable _not_empty, _not_full;
};

} // namespace hls

namespace fifosim {

// A dataflow process: `body` runs in its own thread.
inline void spawn(const std::string &name, std::function<void()> body) {
    auto &w = world();
    std::lock_guard<std::mutex> g(w.m);
    Process *p = new Process();
    p->name = name;
    w.procs.push_back(p);
    w.live++;
    w.threads.emplace_back([p, body]() {
        current() = p;
        body();
        std::lock_guard<std::mutex> g2(world().m);
        p->state = 3;
        world().live--;
    });
}

inline void image_done() {
    std::lock_guard<std::mutex> g(world().m);
    current()->images++;
}

template <class S> void bound(S &s, size_t depth) { s.set_depth(depth); }

inline void join_all() {
    for (size_t i = 0;; i++) {
        std::thread t;
        {
            std::lock_guard<std::mutex> g(world().m);
            if (i >= world().threads.size())
                break;
            t = std::move(world().threads[i]);
        }
        if (t.joinable())
            t.join();
    }
}

} // namespace fifosim

#endif
