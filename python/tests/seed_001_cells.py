"""The code cells of pybela's "Tutorial 2: Streamer - Bela to python
advanced" notebook (../shared/seeds/001_*.txt), verbatim, in order. The
first cell (`!rsync ... root@bela.local`) copies a project onto a Bela
board and is left out. The tests change only the import line, the address
and the variable names (the board's potentiometers pot1/pot2 become the
demo's frame counters; see test_seed_streamer.py)."""

CELLS = [
'''from pybela import Streamer

streamer = Streamer()
streamer.connect()

variables = ["pot1", "pot2"]''',

'''n_values = 1000
streaming_buffer = streamer.stream_n_values(
            variables= variables, n_values=n_values)''',

'''_vars = streamer.watcher_vars
for var in _vars:
    print(f'Variable: {var["name"]}, buffer length: {var["data_length"]}, number of streamed values: {len(streamer.streaming_buffers_data[var["name"]])}')''',

'''latest_timestamp = streamer.get_latest_timestamp() # get the latest timestamp
sample_rate = streamer.sample_rate # get the sample rate
start_timestamp = latest_timestamp + sample_rate # start streaming 1 second after the latest timestamp
duration = sample_rate # stream for 2 seconds

streamer.schedule_streaming(
    variables=variables,
    timestamps=[start_timestamp, start_timestamp],
    durations=[duration, duration],
    saving_enabled=True)''',

'''timestamps = {var: [] for var in variables}
buffers = {var: [] for var in variables}

def callback(buffer, timestamps, buffers):
    print("Buffer received")
    
    _var = buffer["name"]
    timestamps[_var].append(
        buffer["buffer"]["ref_timestamp"])
    buffers[_var].append(buffer["buffer"]["data"])
    
    print(_var, timestamps[_var][-1])

streamer.start_streaming(
    variables, saving_enabled=False, on_buffer_callback=callback, callback_args=(timestamps, buffers))

streamer.wait(2)

streamer.stop_streaming()''',

'''timestamps = {var: [] for var in variables}
buffers = {var: [] for var in variables}

def callback(block, timestamps, buffers):
    print("Block received")
    
    for buffer in block:
        var = buffer["name"]
        timestamps[var].append(buffer["buffer"]["ref_timestamp"])
        buffers[var].append(buffer["buffer"]["data"])

        print(var, timestamps[var][-1])
        
streamer.start_streaming(
    variables, saving_enabled=False, on_block_callback=callback, callback_args=(timestamps, buffers))

streamer.wait(2)

streamer.stop_streaming()''',
]
