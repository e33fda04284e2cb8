"""REST API of the trips module, mounted at /api/v1/trips/."""

from django.urls import path

from modules.trips import apis

app_name = "trips"

urlpatterns = [
    path("", apis.TripListRequestApi.as_view(), name="trip-list"),
    path("bookings/", apis.BookingListApi.as_view(), name="booking-list"),
    path("bookings/<uuid:booking_id>/", apis.BookingDetailApi.as_view(), name="booking-detail"),
    path("<uuid:trip_id>/", apis.TripDetailApi.as_view(), name="trip-detail"),
    path("<uuid:trip_id>/start/", apis.TripStartApi.as_view(), name="trip-start"),
    path("<uuid:trip_id>/positions/", apis.TripPositionsApi.as_view(), name="trip-positions"),
    path("<uuid:trip_id>/complete/", apis.TripCompleteApi.as_view(), name="trip-complete"),
    path("<uuid:trip_id>/cancel/", apis.TripCancelApi.as_view(), name="trip-cancel"),
]
