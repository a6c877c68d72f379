from synth.synthesis import urls as synthesis_urls
from synth.training import urls as training_urls

app_name = "synth"
urlpatterns = [*synthesis_urls.urlpatterns, *training_urls.urlpatterns]
