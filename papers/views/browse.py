from django.http import HttpResponse


def paper_detail(request, pk):  # the foundation's reading pages replace these stubs
    return HttpResponse("todo")


def tag_list(request):
    return HttpResponse("todo")


def tag_detail(request, slug):
    return HttpResponse("todo")
