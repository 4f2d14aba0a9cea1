# netbuilder as a container: `docker build -t netbuilder . && docker run -p 8501:8501 netbuilder`
FROM python:3.11-slim
WORKDIR /app
# Graphviz's `dot` renders the SVG/PNG downloads; the page itself draws graphs in the browser.
RUN apt-get update && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY .streamlit ./.streamlit
COPY netbuilder ./netbuilder
COPY app.py .
RUN useradd --create-home netbuilder
USER netbuilder
# Freed NumPy arrays of 1 MB and more go back to the system at once (glibc keeps smaller ones for reuse):
# a closed tab's memory returns instead of staying in the allocator's arenas.
ENV MALLOC_MMAP_THRESHOLD_=1048576 MALLOC_ARENA_MAX=2
# One BLAS thread: visitors' NumPy work runs in threads of one process, and a BLAS pool of its own fights them for
# the cores (bench/bench_blas.py). Read when NumPy loads its BLAS; where no one can set them, engine/blas.py does at run time.
ENV OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4).read() != b'ok')"
CMD ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
