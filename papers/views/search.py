from django.http import HttpResponse


def search(request):  # the search issue replaces these stubs
    return HttpResponse("todo")


def api_search(request):
    return HttpResponse("todo")
