"""Pictures and animations of stored or replayed rollouts (the ``viz`` extra: matplotlib, imageio-ffmpeg).

:mod:`spinlock.operators.viz.rollouts` renders ``spinlock visualize rollouts``. Nothing here is imported by
the plugin at load time; matplotlib is imported (with the headless Agg backend) only when a picture is drawn.
"""
